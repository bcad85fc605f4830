package xsk

import "fmt"

// Stats returns the kernel's counters for the socket (XDP_STATISTICS) and the
// socket's own. Call it from the socket's owning goroutine: the own counters
// are plain fields (see counters).
func (s *Socket) Stats() (Stats, error) {
	if s.fd < 0 {
		return Stats{}, ErrSocketClosed
	}
	st := s.counters.stats()
	k, err := xdpStatistics(s.fd)
	if err != nil {
		return st, fmt.Errorf("read XDP_STATISTICS: %w", err)
	}
	st.RxDropped = k.Rx_dropped
	st.RxInvalidDescs = k.Rx_invalid_descs
	st.TxInvalidDescs = k.Tx_invalid_descs
	st.RxRingFull = k.Rx_ring_full
	st.RxFillRingEmptyDescs = k.Rx_fill_ring_empty_descs
	st.TxRingEmptyDescs = k.Tx_ring_empty_descs
	return st, nil
}

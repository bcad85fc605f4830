package xsk

import "fmt"

// Stats returns the kernel's counters for the socket (XDP_STATISTICS) and the
// socket's own. Call it from the socket's owning goroutine: the own counters
// are plain fields (see counters). Other goroutines use KernelStats.
func (s *Socket) Stats() (Stats, error) {
	k, err := s.KernelStats()
	if err != nil {
		return k, err
	}
	st := s.counters.stats()
	st.RxDropped = k.RxDropped
	st.RxInvalidDescs = k.RxInvalidDescs
	st.TxInvalidDescs = k.TxInvalidDescs
	st.RxRingFull = k.RxRingFull
	st.RxFillRingEmptyDescs = k.RxFillRingEmptyDescs
	st.TxRingEmptyDescs = k.TxRingEmptyDescs
	return st, nil
}

// KernelStats returns only the kernel's counters (XDP_STATISTICS), with
// LANA's own left zero. It reads nothing the owner writes, so any goroutine
// may call it while the socket is open.
func (s *Socket) KernelStats() (Stats, error) {
	if s.fd < 0 {
		return Stats{}, ErrSocketClosed
	}
	k, err := xdpStatistics(s.fd)
	if err != nil {
		return Stats{}, fmt.Errorf("read XDP_STATISTICS: %w", err)
	}
	return Stats{
		RxDropped:            k.Rx_dropped,
		RxInvalidDescs:       k.Rx_invalid_descs,
		TxInvalidDescs:       k.Tx_invalid_descs,
		RxRingFull:           k.Rx_ring_full,
		RxFillRingEmptyDescs: k.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:     k.Tx_ring_empty_descs,
	}, nil
}

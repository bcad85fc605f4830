package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric descriptions. Counters are read from the runtime at scrape time
// (per-worker sums), so scraping costs the data path nothing.
var (
	descBlockPackets = prometheus.NewDesc("lana_block_packets_total", "Packets that entered the block.", []string{"block"}, nil)
	descBlockBytes   = prometheus.NewDesc("lana_block_bytes_total", "Bytes that entered the block.", []string{"block"}, nil)
	descBlockVectors = prometheus.NewDesc("lana_block_vectors_total", "Process calls of the block.", []string{"block"}, nil)
	descBlockDrops   = prometheus.NewDesc("lana_block_drops_total", "Packets the block dropped, by reason.", []string{"block", "reason"}, nil)
	descQueueRx      = prometheus.NewDesc("lana_queue_rx_packets_total", "Frames received on the queue.", []string{"interface", "queue"}, nil)
	descQueueRxBytes = prometheus.NewDesc("lana_queue_rx_bytes_total", "Bytes received on the queue.", []string{"interface", "queue"}, nil)
	descQueueTx      = prometheus.NewDesc("lana_queue_tx_packets_total", "Frames transmitted on the queue.", []string{"interface", "queue"}, nil)
	descQueueDrops   = prometheus.NewDesc("lana_queue_drops_total", "Engine-level drops on the queue, by reason.", []string{"interface", "queue", "reason"}, nil)
	descQueueSwaps   = prometheus.NewDesc("lana_queue_swaps_total", "Graph swaps the queue's worker picked up.", []string{"interface", "queue"}, nil)
	descQueueFill    = prometheus.NewDesc("lana_queue_fill_target_frames", "Frames the queue's worker leaves in the kernel's hands to receive into (fill_target, grown after bursts).", []string{"interface", "queue"}, nil)
	descXDP          = prometheus.NewDesc("lana_xsk_kernel_total", "The kernel's AF_XDP socket counters (XDP_STATISTICS), by counter.", []string{"interface", "queue", "counter"}, nil)
	descProg         = prometheus.NewDesc("lana_xdp_program_frames_total", "Frames the XDP program saw, by verdict.", []string{"interface", "verdict"}, nil)
)

// collector exports a Runtime's counters.
type collector struct{ rt *Runtime }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBlockPackets, descBlockBytes, descBlockVectors, descBlockDrops,
		descQueueRx, descQueueRxBytes, descQueueTx, descQueueDrops, descQueueSwaps, descQueueFill, descXDP, descProg} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.rt.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for name, b := range st.Blocks {
		counter(descBlockPackets, b.Packets, name)
		counter(descBlockBytes, b.Bytes, name)
		counter(descBlockVectors, b.Vectors, name)
		for reason, n := range b.Drops {
			counter(descBlockDrops, n, name, reason)
		}
	}
	for _, q := range st.Queues {
		ifc, qn := q.Interface, strconv.Itoa(q.Queue.Queue)
		counter(descQueueRx, q.RxPackets, ifc, qn)
		counter(descQueueRxBytes, q.RxBytes, ifc, qn)
		counter(descQueueTx, q.TxPackets, ifc, qn)
		counter(descQueueSwaps, q.Swaps, ifc, qn)
		ch <- prometheus.MustNewConstMetric(descQueueFill, prometheus.GaugeValue, float64(q.FillTarget), ifc, qn)
		for reason, n := range q.Drops {
			counter(descQueueDrops, n, ifc, qn, reason)
		}
		for _, kv := range []struct {
			k string
			v uint64
		}{{"rx_dropped", q.XDP.RxDropped}, {"rx_invalid_descs", q.XDP.RxInvalidDescs},
			{"tx_invalid_descs", q.XDP.TxInvalidDescs}, {"rx_ring_full", q.XDP.RxRingFull},
			{"rx_fill_ring_empty_descs", q.XDP.RxFillRingEmptyDescs}, {"tx_ring_empty_descs", q.XDP.TxRingEmptyDescs}} {
			counter(descXDP, kv.v, ifc, qn, kv.k)
		}
	}
	for _, p := range st.Programs {
		counter(descProg, p.Redirected, p.Interface, "redirected")
		counter(descProg, p.NotSteered, p.Interface, "not_steered")
		counter(descProg, p.NoSocket, p.Interface, "no_socket")
		counter(descProg, p.Short, p.Interface, "short")
	}
}

// Metrics serves Prometheus metrics over TCP.
type Metrics struct {
	ln  net.Listener
	srv *http.Server
}

// ServeMetrics listens on addr (e.g. "127.0.0.1:9464"; port 0 picks one) and
// serves /metrics in the background.
func ServeMetrics(rt *Runtime, addr string, log *slog.Logger) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector{rt}); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	m := &Metrics{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return m, nil
}

// Addr returns the address metrics are served on.
func (m *Metrics) Addr() net.Addr { return m.ln.Addr() }

// Close stops the metrics server.
func (m *Metrics) Close() error { return m.srv.Close() }

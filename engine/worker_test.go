package engine_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

func TestWorkerPinning(t *testing.T) {
	for _, tc := range []struct {
		cpu     int
		wantErr bool
	}{{runtime.NumCPU() - 1, false}, {4096, true}} {
		q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 128}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Pin: true, CPU: tc.cpu, Mode: engine.PollWakeup}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec("add d dummy", "hook d"); err != nil {
			t.Fatal(err)
		}
		e.Start()
		time.Sleep(20 * time.Millisecond)
		err = e.Stop()
		if (err != nil) != tc.wantErr {
			t.Errorf("cpu %d: stop error %v, want error %v", tc.cpu, err, tc.wantErr)
		}
		if !tc.wantErr && e.Worker(0).Stats().Polls == 0 {
			t.Errorf("cpu %d: wakeup mode never polled", tc.cpu)
		}
		e.Close()
	}
}

func TestConfigRefusals(t *testing.T) {
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 128}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []engine.Config{
		{},
		{VectorSize: 257, Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM()}}},
		{Workers: []engine.WorkerConfig{{Queue: q}}},
		{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Frames: []uint64{100}}}},
		{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), HandoffSize: 1000}}},
	} {
		if _, err := engine.New(cfg); !errors.Is(err, engine.ErrConfig) {
			t.Errorf("config %+v: error %v, want ErrConfig", cfg, err)
		}
	}
}

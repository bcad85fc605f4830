package engine_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// TestPinnedThreadRetired: the thread a pinned worker ran on ends with the
// worker, so no goroutine is ever scheduled on a thread confined to a
// worker's CPU afterwards.
func TestPinnedThreadRetired(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs to tell a pinned thread from the others")
	}
	cpu := runtime.NumCPU() - 1
	want := strconv.Itoa(cpu)
	pinned := func() int {
		n := 0
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.TrimSpace(v) == want {
					n++
				}
			}
		}
		return n
	}
	// Threads that earlier tests pinned may still be retiring: start from
	// a count that has settled.
	before := pinned()
	for settled := time.Now(); time.Since(settled) < 100*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if n := pinned(); n != before {
			before, settled = n, time.Now()
		}
	}
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 128}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Pin: true, CPU: cpu, Mode: engine.PollWakeup}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Exec("add d dummy", "hook d"); err != nil {
		t.Fatal(err)
	}
	e.Start()
	deadline := time.Now().Add(2 * time.Second)
	for pinned() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("running worker: %d threads pinned to cpu %d, want %d", pinned(), cpu, before+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for pinned() > before {
		if time.Now().After(deadline) {
			t.Fatalf("stopped worker: %d threads still pinned to cpu %d, want %d", pinned(), cpu, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

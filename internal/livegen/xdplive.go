package livegen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
)

// xdpMD mirrors struct xdp_md, the context BPF_PROG_RUN takes for XDP.
type xdpMD struct {
	Data           uint32
	DataEnd        uint32
	DataMeta       uint32
	IngressIfindex uint32
	RxQueueIndex   uint32
	EgressIfindex  uint32
}

// stateValue mirrors the generator program's map value. Userspace writes it
// before a run and reads it after; during a run only the program touches it
// (one BPF_PROG_RUN at a time, on one CPU, so plain loads and stores suffice).
type stateValue struct {
	// Sent counts frames the program returned XDP_TX for; frame i carries
	// index i.
	Sent uint64
	// Limit: once Sent reaches it, every run returns XDP_DROP.
	Limit uint64
	// Credit is how many frames may go before the receiver is checked again.
	Credit uint64
	// Iter counts the iterations of the current BPF_PROG_RUN call (reset
	// before each call): Iter modulo the batch size is the position in the
	// kernel's batch.
	Iter uint64
	// Skipped counts iterations that sent nothing (pacing or rate).
	Skipped uint64
	// Base is the receiver's count when the run started.
	Base uint64
	// Start is bpf_ktime_get_ns() of the first iteration (0: not yet).
	Start uint64
	// Interval is the time between frames in 1/256 ns (rate limit; 0: none).
	Interval uint64
}

const (
	xdpDrop = 1
	xdpTX   = 3
)

// XDPLive sends frames with BPF_PROG_RUN in live-frames mode: a tiny XDP
// program that stamps each frame and returns XDP_TX runs in the kernel for
// every frame, and the kernel transmits the result out of Ifindex. Pacing and
// the rate limit are done by the program itself (see the package doc).
type XDPLive struct {
	cfg   Config
	tmpl  []byte
	state *ebpf.Map
	prog  *ebpf.Program
	sent  uint64Counter
	ran   bool
}

// NewXDPLive validates cfg and loads the generator program. Close releases
// it. Pacing needs both cfg.Pace and cfg.PaceMap.
func NewXDPLive(cfg Config) (_ *XDPLive, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if (cfg.Pace == nil) != (cfg.PaceMap == nil) {
		return nil, fmt.Errorf("%w: xdp-live paces inside the kernel: set both Pace and PaceMap, or neither", ErrConfig)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
		if cfg.Pace != nil {
			cfg.BatchSize = pacedBatch(cfg.Outstanding)
		}
	}
	if cfg.Pace != nil {
		if err := validatePacedBatch(cfg.BatchSize, cfg.Outstanding); err != nil {
			return nil, err
		}
	}
	off := cfg.Frame.Offsets()
	rewritePort := !cfg.Frame.Vlink && cfg.Frame.Flows > 1
	spec := cfg.Frame
	// Rewriting ports or sequence numbers would invalidate a UDP checksum.
	spec.ZeroUDPChecksum = spec.ZeroUDPChecksum || rewritePort || spec.Seq
	tmpl, err := frames.BuildOne(spec, 0)
	if err != nil {
		return nil, fmt.Errorf("build template: %w", err)
	}
	g := &XDPLive{cfg: cfg, tmpl: tmpl}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	g.state, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lana_gen",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  uint32(binary.Size(stateValue{})),
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create generator map: %w", err)
	}
	p := genProgram{
		stateFD:     g.state.FD(),
		end:         len(tmpl),
		portOff:     -1,
		seqOff:      -1,
		outstanding: cfg.Outstanding,
		batch:       cfg.BatchSize,
		rate:        cfg.Rate > 0,
	}
	if cfg.PaceMap != nil {
		typ := cfg.PaceMap.Type()
		if (typ != ebpf.PerCPUArray && typ != ebpf.Array) || cfg.PaceMap.ValueSize() < 8 {
			return nil, fmt.Errorf("%w: pace map %v: must be an array or a per-CPU array whose value starts with a u64 count",
				ErrConfig, cfg.PaceMap)
		}
		p.paceFD = cfg.PaceMap.FD()
		if typ == ebpf.Array {
			// One shared slot, written by a userspace receiver (for
			// example through a BPF_F_MMAPABLE mapping).
			p.cpus, p.pacePlain = 1, true
		} else if p.cpus, err = ebpf.PossibleCPU(); err != nil {
			return nil, fmt.Errorf("possible cpus: %w", err)
		}
	}
	if rewritePort {
		p.portOff, p.flows, p.basePort = off.SrcPort, cfg.Frame.Flows, int(cfg.Frame.SrcPort)
	}
	if cfg.Frame.Seq {
		p.seqOff = off.Payload
	}
	g.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "lana_livegen",
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: p.instructions(),
	})
	if err != nil {
		return nil, fmt.Errorf("load generator program: %w", err)
	}
	return g, nil
}

// pacedBatch is the default paced batch size: the largest power of two up
// to half of outstanding, at most 256.
func pacedBatch(outstanding uint64) uint32 {
	b := uint32(1)
	for b < DefaultBatchSize && uint64(b)*4 <= outstanding {
		b *= 2
	}
	return b
}

// validatePacedBatch checks a paced run's batch size: the program finds its
// place in the batch with a mask, and waits for a whole batch to be free.
func validatePacedBatch(batch uint32, outstanding uint64) error {
	if batch == 0 || batch&(batch-1) != 0 || uint64(batch) > outstanding {
		return fmt.Errorf("%w: batch size %d: a paced xdp-live batch must be a power of two no larger than outstanding (%d)",
			ErrConfig, batch, outstanding)
	}
	return nil
}

// genProgram describes the generator's XDP program.
type genProgram struct {
	stateFD     int
	end         int // frame length: bounds check before rewriting
	portOff     int // UDP source port offset, -1: leave ports alone
	flows       int
	basePort    int
	seqOff      int  // sequence number offset, -1: none
	paceFD      int  // receiver's count map; used when cpus > 0
	cpus        int  // slots summed: possible CPUs, or 1 for a plain array
	pacePlain   bool // paceFD is a plain array: one lookup, no CPU argument
	outstanding uint64
	batch       uint32 // the kernel's batch size: a power of two when paced
	rate        bool
}

// Offsets of stateValue's fields.
const (
	stSent     = 0
	stLimit    = 8
	stCredit   = 16
	stIter     = 24
	stSkipped  = 32
	stBase     = 40
	stStart    = 48
	stInterval = 56
)

// instructions returns the program. Registers: r6 ctx, r7 sent, r9 state.
// Every field is rewritten on every run, so it does not matter whether the
// kernel re-initialises a recycled page from the template or hands it back
// with the previous run's modifications.
func (p genProgram) instructions() asm.Instructions {
	ins := asm.Instructions{
		// The kernel wants BTF for every function once there are two.
		btf.WithFuncMetadata(asm.Mov.Reg(asm.R6, asm.R1), btfFunc("lana_livegen", btf.FuncParam{Name: "ctx", Type: &btf.Pointer{Target: &btf.Struct{Name: "xdp_md"}}})),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word), // key 0 for both maps
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, p.stateFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R7, asm.R9, stSent, asm.DWord),
		asm.LoadMem(asm.R1, asm.R9, stLimit, asm.DWord),
		asm.JGE.Reg(asm.R7, asm.R1, "drop"),
	}
	if p.rate {
		// Due when (now-start)*256 >= sent*interval.
		ins = append(ins,
			asm.FnKtimeGetNs.Call(),
			asm.LoadMem(asm.R1, asm.R9, stStart, asm.DWord),
			asm.JNE.Imm(asm.R1, 0, "started"),
			asm.StoreMem(asm.R9, stStart, asm.R0, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.Sub.Reg(asm.R0, asm.R1).WithSymbol("started"),
			asm.LSh.Imm(asm.R0, 8),
			asm.LoadMem(asm.R1, asm.R9, stInterval, asm.DWord),
			asm.Mul.Reg(asm.R1, asm.R7),
			asm.JLT.Reg(asm.R0, asm.R1, "skip"),
		)
	}
	if p.cpus > 0 {
		// Pacing works in the kernel's batches (see the package doc): at
		// the first iteration of a batch, wait until a whole batch may go;
		// later in the batch, send while the credit lasts and skip to the
		// batch's end when it is spent.
		ins = append(ins,
			asm.LoadMem(asm.R1, asm.R9, stIter, asm.DWord),
			asm.Mov.Reg(asm.R2, asm.R1),
			asm.Add.Imm(asm.R2, 1),
			asm.StoreMem(asm.R9, stIter, asm.R2, asm.DWord),
			asm.And.Imm(asm.R1, int32(p.batch-1)),
			asm.JNE.Imm(asm.R1, 0, "spend"),
		)
		// look: r1 = credit for a whole batch, or wait.
		ins = append(ins, p.credit("look", asm.R9, stBase, int32(p.batch), "wait")...)
		ins = append(ins,
			asm.StoreMem(asm.R9, stCredit, asm.R1, asm.DWord).WithSymbol("credit"),
			asm.Ja.Label("spend"),
			// wait: spin in bpf_loop until a batch may go. Waiting costs
			// no page this way: a skipped iteration allocates one and
			// returns it through the page pool's locked ring, the lock
			// the receiver's CPU takes for every frame it frees.
			asm.LoadMem(asm.R1, asm.R9, stBase, asm.DWord).WithSymbol("wait"),
			asm.StoreMem(asm.RFP, spinCtx+spinBase, asm.R1, asm.DWord),
			asm.StoreMem(asm.RFP, spinCtx+spinSent, asm.R7, asm.DWord),
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, spinCtx+spinCredit, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R1, spinLoops),
			asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference("spin"),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, spinCtx),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnLoop.Call(),
			asm.LoadMem(asm.R1, asm.RFP, spinCtx+spinCredit, asm.DWord),
			asm.JNE.Imm(asm.R1, 0, "credit"),
		)
		// The spin ran out (a slow or stalled receiver): take what is
		// free now, if anything, and skip the rest of the batch.
		ins = append(ins, p.credit("late", asm.R9, stBase, 1, "none")...)
		ins = append(ins,
			asm.Ja.Label("credit"),
			asm.Mov.Imm(asm.R1, 0).WithSymbol("none"),
			asm.Ja.Label("credit"),
			asm.LoadMem(asm.R1, asm.R9, stCredit, asm.DWord).WithSymbol("spend"),
			asm.JEq.Imm(asm.R1, 0, "skip"),
			asm.Sub.Imm(asm.R1, 1),
			asm.StoreMem(asm.R9, stCredit, asm.R1, asm.DWord),
		)
	}
	ins = append(ins,
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("send"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R9, stSent, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, int32(p.end)),
		asm.JGT.Reg(asm.R4, asm.R3, "tx"),
	)
	if p.portOff >= 0 {
		ins = append(ins,
			asm.Mov.Reg(asm.R4, asm.R7),
			asm.Mod.Imm(asm.R4, int32(p.flows)),
			asm.Add.Imm(asm.R4, int32(p.basePort)),
			asm.HostTo(asm.BE, asm.R4, asm.Half),
			asm.StoreMem(asm.R2, int16(p.portOff), asm.R4, asm.Half),
		)
	}
	if p.seqOff >= 0 {
		ins = append(ins,
			asm.Mov.Reg(asm.R4, asm.R7),
			asm.HostTo(asm.BE, asm.R4, asm.DWord),
			asm.StoreMem(asm.R2, int16(p.seqOff), asm.R4, asm.DWord),
		)
	}
	ins = append(ins,
		asm.Mov.Imm(asm.R0, xdpTX).WithSymbol("tx"),
		asm.Return(),
	)
	if p.rate || p.cpus > 0 { // the verifier rejects unreachable code
		ins = append(ins,
			asm.LoadMem(asm.R1, asm.R9, stSkipped, asm.DWord).WithSymbol("skip"),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R9, stSkipped, asm.R1, asm.DWord),
		)
	}
	ins = append(ins,
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("drop"),
		asm.Return(),
	)
	if p.cpus > 0 {
		ins = append(ins, p.spin()...)
	}
	return ins
}

// The pacing spin: bpf_loop runs spin up to spinLoops times (about 100 µs:
// nothing else runs on the CPU meanwhile), and spin looks at the receiver's count every spinLookEvery
// calls (a look pulls the receiver's cache line over, which slows the
// receiver when done too often). The spin waits until a whole batch may go.
// Its context is three u64s on the program's stack at spinCtx.
const (
	spinLoops     = 1 << 12
	spinLookEvery = 32 // a power of two
	spinCtx       = -32
	spinCredit    = 0
	spinBase      = 8
	spinSent      = 16
)

// u64 is the BTF type of a u64 argument.
var u64 = &btf.Int{Name: "u64", Size: 8}

// btfFunc describes a static function returning a 64-bit integer, for the
// program's BTF.
func btfFunc(name string, params ...btf.FuncParam) *btf.Func {
	proto := &btf.FuncProto{Return: &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}, Params: params}
	return &btf.Func{Name: name, Type: proto, Linkage: btf.StaticFunc}
}

// spin is the bpf_loop callback (r1 index, r2 context): it returns 1, with
// the credit stored in the context, once the receiver is back under
// Outstanding frames in flight, and 0 (go on) until then.
func (p genProgram) spin() asm.Instructions {
	ins := asm.Instructions{
		btf.WithFuncMetadata(asm.Mov.Reg(asm.R6, asm.R2), btfFunc("lana_spin",
			btf.FuncParam{Name: "index", Type: u64}, btf.FuncParam{Name: "ctx", Type: &btf.Pointer{Target: &btf.Void{}}})).WithSymbol("spin"),
		asm.And.Imm(asm.R1, spinLookEvery-1),
		asm.JNE.Imm(asm.R1, 0, "spin_on"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word), // key 0
		asm.LoadMem(asm.R7, asm.R6, spinSent, asm.DWord),
	}
	ins = append(ins, p.credit("spin_look", asm.R6, spinBase, int32(p.batch), "spin_on")...)
	return append(ins,
		asm.StoreMem(asm.R6, spinCredit, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("spin_on"),
		asm.Return(),
	)
}

// credit computes how many frames may go, from r7 (sent), the receiver's
// count (the pace map, key 0 at fp-4) and the count at the start (the u64 at
// base+baseOff): r1 = Outstanding - in flight, falling through when that is
// at least least and jumping to behind otherwise. The first instruction
// carries label. It uses r0-r5 and r8.
func (p genProgram) credit(label string, base asm.Register, baseOff int16, least int32, behind string) asm.Instructions {
	ins := asm.Instructions{asm.Mov.Imm(asm.R8, 0).WithSymbol(label)}
	for cpu := 0; cpu < p.cpus; cpu++ {
		next := fmt.Sprintf("%s_cpu%d", label, cpu+1)
		lookup := asm.Instructions{asm.Mov.Imm(asm.R3, int32(cpu)), asm.FnMapLookupPercpuElem.Call()}
		if p.pacePlain {
			lookup = asm.Instructions{asm.FnMapLookupElem.Call()}
		}
		ins = append(ins,
			asm.LoadMapPtr(asm.R1, p.paceFD),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
		)
		ins = append(ins, lookup...)
		ins = append(ins,
			asm.JEq.Imm(asm.R0, 0, next),
			asm.LoadMem(asm.R0, asm.R0, 0, asm.DWord),
			asm.Add.Reg(asm.R8, asm.R0),
			asm.Mov.Imm(asm.R0, 0).WithSymbol(next),
		)
	}
	done := label + "_credit"
	return append(ins,
		// r8 = consumed = sum - base; r1 = outstanding - (sent - consumed)
		asm.LoadMem(asm.R1, base, baseOff, asm.DWord),
		asm.Sub.Reg(asm.R8, asm.R1),
		asm.LoadImm(asm.R1, int64(p.outstanding), asm.DWord),
		asm.JGE.Reg(asm.R8, asm.R7, done), // receiver saw everything (or strays)
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Sub.Reg(asm.R2, asm.R8), // r2 = in flight
		asm.JGE.Reg(asm.R2, asm.R1, behind),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.JLT.Imm(asm.R1, least, behind),
		asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(done),
	)
}

// Sent returns the frames handed to the kernel so far; any goroutine.
func (g *XDPLive) Sent() uint64 { return g.sent.load() }

// Run transmits frames on a locked thread in cfg's namespace, pinned to
// cfg.CPU, calling BPF_PROG_RUN until the count, the duration or ctx ends
// the run. Refused is not observable here (the veth driver counts failed
// transmissions, see the package doc), so RefusedKnown is false.
func (g *XDPLive) Run(ctx context.Context) (Result, error) {
	if g.ran {
		return Result{}, fmt.Errorf("%w: a generator runs once", ErrConfig)
	}
	g.ran = true
	st := stateValue{Limit: math.MaxUint64}
	if g.cfg.Count > 0 {
		st.Limit = g.cfg.Count
	}
	if g.cfg.Rate > 0 {
		st.Interval = uint64(256 * float64(time.Second) / float64(g.cfg.Rate))
	}
	var base uint64
	if g.cfg.Pace != nil {
		base = g.cfg.Pace()
		st.Base = base
	}
	if err := g.state.Put(uint32(0), st); err != nil {
		return Result{}, fmt.Errorf("reset generator state: %w", err)
	}
	md := &xdpMD{DataEnd: uint32(len(g.tmpl)), IngressIfindex: uint32(g.cfg.Ifindex)}
	call := newLiveRun(g.prog.FD(), g.tmpl, md, g.cfg.BatchSize)
	// Without pacing or a rate every iteration sends, so a count is one
	// exact call; otherwise skipped iterations make the number unknowable
	// and the watcher ends the call once the program reached the limit.
	exact := g.cfg.Count > 0 && g.cfg.Pace == nil && g.cfg.Rate == 0
	var start time.Time
	var elapsed time.Duration
	cur := st // the state as of the last call
	err := g.cfg.onThread(func() (err error) {
		w := newWatcher(unix.Gettid())
		defer func() {
			if werr := w.finish(); err == nil {
				err = werr
			}
		}()
		start = time.Now()
		var deadline time.Time
		if g.cfg.Duration > 0 {
			deadline = start.Add(g.cfg.Duration)
		}
		// Paced, the program sends nothing while the receiver is behind:
		// a Sent that stops moving for Stall means frames were lost.
		lastSent, moved := uint64(0), time.Now()
		go w.watch(ctx, deadline, func() (bool, error) {
			var v stateValue
			if err := g.state.Lookup(uint32(0), &v); err != nil {
				return true, fmt.Errorf("read generator state: %w", err)
			}
			g.sent.store(v.Sent)
			if now := time.Now(); v.Sent != lastSent {
				lastSent, moved = v.Sent, now
			} else if g.cfg.Pace != nil && now.Sub(moved) >= g.cfg.Stall {
				return true, ErrStalled // detailed below, with the receiver's count
			}
			return v.Sent >= v.Limit, nil
		})
		for !w.stopping() {
			repeat := uint32(math.MaxUint32)
			if exact {
				repeat = uint32(min(cur.Limit-cur.Sent, math.MaxUint32))
			}
			cur.Iter = 0 // each call starts a batch
			if err := g.state.Put(uint32(0), cur); err != nil {
				return fmt.Errorf("write generator state: %w", err)
			}
			err := call.run(repeat)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("run live frames on ifindex %d: %w", g.cfg.Ifindex, err)
			}
			// EINTR without a stop was some other signal: the state map
			// carries the run on in the next call.
			if err := g.state.Lookup(uint32(0), &cur); err != nil {
				return fmt.Errorf("read generator state: %w", err)
			}
			g.sent.store(cur.Sent)
			if cur.Sent >= cur.Limit {
				break
			}
		}
		elapsed = time.Since(start)
		return nil
	})
	if cur.Sent > 0 {
		g.sent.store(cur.Sent) // the watcher, gone now, may have stored an older value last
	}
	res := result("xdp-live", g.sent.load(), len(g.tmpl), elapsed, 0)
	if g.cfg.Pace != nil {
		res.Consumed = g.cfg.Pace() - base
	}
	if errors.Is(err, ErrStalled) {
		err = stalled(res.Sent, g.cfg.Count, res.Consumed, g.cfg.Stall)
	}
	res.Skipped = cur.Skipped
	return res, err
}

// Close releases the program and its map.
func (g *XDPLive) Close() error {
	if g.prog != nil {
		g.prog.Close()
		g.prog = nil
	}
	if g.state != nil {
		g.state.Close()
		g.state = nil
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/spf13/cobra"

	"github.com/lana-net/lana/app"
	"github.com/lana-net/lana/appwire"
)

func captureCmd() *cobra.Command {
	var (
		out      string
		dataSock string
		count    int
		snap     int
	)
	cmd := &cobra.Command{
		Use:   "capture BLOCK -w FILE|-",
		Short: "Stream what enters BLOCK from below and leaves it downward as pcap (tcpdump -r, Wireshark)",
		Long: `capture asks lanad, over its data socket, to put a tap below BLOCK (between
BLOCK and what feeds it) and writes every frame the tap sees to FILE as pcap
(- for stdout, e.g. "lanactl capture e0 -w - | tcpdump -r - -n"). The tap costs
nothing when no capture runs and goes away when capture ends (count reached,
Ctrl-C, or the reader of stdout closes). Frames the tap could not queue fast
enough are counted, not waited for.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-w FILE or -w - is required")
			}
			if dataSock == "" {
				dataSock = appwire.SocketNextTo(socketPath)
			}
			var opts map[string]string
			if snap > 0 {
				opts = map[string]string{"snap": fmt.Sprint(snap)}
			}
			c, err := app.Dial(dataSock, app.Options{Block: args[0], Capture: true, BlockOptions: opts})
			if err != nil {
				return err
			}
			defer c.Close()
			var w io.Writer = os.Stdout
			if out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			pw := pcapgo.NewWriterNanos(w)
			if err := pw.WriteFileHeader(uint32(c.Welcome().Snap), layers.LinkTypeEthernet); err != nil {
				return fmt.Errorf("pcap header: %w", err)
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			go func() {
				<-sigs
				c.Close()
			}()
			if out != "-" {
				fmt.Fprintf(os.Stderr, "capturing %s (tap %s) to %s\n", args[0], c.Welcome().Tap, out)
			}
			buf := make([]byte, appwire.MaxFrame)
			for n := 0; count <= 0 || n < count; {
				m, k, err := c.RecvMeta(buf)
				var re *app.RemoteError
				switch {
				case errors.As(err, &re) && !re.Fatal:
					fmt.Fprintln(os.Stderr, "lanactl:", re.Text)
					continue
				case errors.Is(err, app.ErrClosed):
					return nil
				case err != nil:
					return err
				}
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, m.Time), CaptureLength: k, Length: int(m.Orig)}
				if err := pw.WritePacket(ci, buf[:k]); err != nil {
					return fmt.Errorf("pcap: %w", err)
				}
				n++
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "write", "w", "", "pcap file to write, - for stdout (required)")
	cmd.Flags().StringVar(&dataSock, "data-socket", "", "lanad's data socket (default: data.sock next to --socket)")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many frames (0: until interrupted)")
	cmd.Flags().IntVarP(&snap, "snaplen", "s", 0, "most bytes kept per frame (default: the tap's 2048)")
	return cmd
}

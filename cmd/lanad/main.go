// Command lanad is LANA's daemon: it binds the NIC queues named by a
// configuration file to AF_XDP sockets and pinned engine workers, applies the
// file's stack, and serves the control API (see package api) on a Unix
// socket.
//
//	lanad --config /etc/lana/lanad.yaml [--socket PATH] [--data-socket PATH|none] [--metrics-listen ADDR] [--log-level info]
//	lanad --config FILE --check    # parse and check the file, then exit
//
// Signals: SIGTERM and SIGINT drain and detach; SIGHUP reloads the file as
// one atomic change (any error: nothing changes, the error is logged).
// SIGKILL leaves no XDP program behind either: the programs are attached
// with bpf_link and pinned nowhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/appwire"
	_ "github.com/lana-net/lana/blocks"
	_ "github.com/lana-net/lana/blocks/bpf"
	_ "github.com/lana-net/lana/blocks/sockexport"
	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/internal/daemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lanad:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("config", "", "configuration file (required)")
	socket := flag.String("socket", "", "control socket path (default: the file's control.socket, else "+api.DefaultSocket+")")
	metrics := flag.String("metrics-listen", "", "serve Prometheus metrics on this TCP address (default: the file's control.metrics, else off)")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	check := flag.Bool("check", false, "check the configuration file and exit")
	dataSock := flag.String("data-socket", "", "applications' SOCK_SEQPACKET socket (default: data.sock next to the control socket, "+appwire.DefaultSocket+" by default); \"none\" turns it off")
	flag.Parse()
	if *cfgPath == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("--config FILE is required and no arguments are taken")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *level, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	f, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *check {
		fmt.Printf("%s: ok\n", *cfgPath)
		return nil
	}
	sock := first(*socket, f.Control.Socket, api.DefaultSocket)
	maddr := first(*metrics, f.Control.Metrics)

	rt, err := daemon.Start(f, log)
	if err != nil {
		return err
	}
	reload := func() error {
		nf, err := config.Load(*cfgPath)
		if err == nil {
			err = rt.Reload(nf)
		}
		if err != nil {
			log.Error("reload refused; nothing changed", "err", err)
			return err
		}
		return nil
	}
	srv, err := daemon.NewServer(rt, daemon.ServerConfig{Socket: sock, Group: f.Control.Group, Reload: reload}, log)
	if err != nil {
		return errors.Join(err, rt.Close())
	}
	// Data socket (applications and captures); see docs/app-protocol.md.
	var ds *daemon.DataServer
	if *dataSock != "none" {
		dpath := first(*dataSock, appwire.SocketNextTo(sock))
		if ds, err = daemon.NewDataServer(rt, daemon.DataConfig{Socket: dpath, Group: f.Control.Group}, log); err != nil {
			srv.Shutdown(context.Background())
			return errors.Join(err, rt.Close())
		}
		go func() {
			if err := ds.Serve(); err != nil {
				log.Error("data socket stopped", "err", err)
			}
		}()
		log.Info("data socket", "path", dpath)
	}
	var m *daemon.Metrics
	if maddr != "" {
		if m, err = daemon.ServeMetrics(rt, maddr, log); err != nil {
			srv.Shutdown(context.Background())
			return errors.Join(err, rt.Close())
		}
		log.Info("metrics", "addr", m.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	log.Info("lanad up", "config", *cfgPath, "socket", sock, "queues", len(rt.Queues()))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var serveErr error
loop:
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				if reload() == nil {
					log.Info("reloaded on SIGHUP", "config", *cfgPath)
				}
				continue
			}
			log.Info("shutting down", "signal", s.String())
			break loop
		case serveErr = <-served:
			log.Error("control server stopped", "err", serveErr)
			break loop
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := []error{serveErr, srv.Shutdown(ctx)}
	if ds != nil {
		errs = append(errs, ds.Close())
	}
	if m != nil {
		errs = append(errs, m.Close())
	}
	errs = append(errs, rt.Close())
	err = errors.Join(errs...)
	if err == nil {
		log.Info("lanad down: drained and detached")
	}
	return err
}

func first(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

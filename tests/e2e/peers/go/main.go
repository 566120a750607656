// Go net/http peer for the ztrace end-to-end tests. Standard library only.
//
//	gopeer server PORT
//	gopeer client [-method M] [-body B] [-repeat N] [-keepalive=false] URL...
//	gopeer ticker [-interval 200ms] [-max 60s] URL_PREFIX
//
// server routes: /ok/... 200, /slow/... 200 after 150 ms, /error/... 500, POST /echo/... 200
// echoing the body, anything else 404. Every response has a Content-Length and
// X-Client-Port (the client's port as the server sees it).
// client sends the URLs in order (N rounds) over one keep-alive connection unless told not
// to, and prints "STATUS METHOD URL port=X-Client-Port reused=BOOL" per request.
// ticker sends GET URL_PREFIX<seq> (seq = 1, 2, ...) over one keep-alive connection, waits
// -interval between requests, prints "SEQ STATUS port=P reused=BOOL" per request, stops after
// the request in flight on SIGTERM/SIGINT (or after -max).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func serve(port string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		reply := func(code int, body string) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			if _, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				w.Header().Set("X-Client-Port", port)
			}
			w.WriteHeader(code)
			if r.Method != http.MethodHead {
				io.WriteString(w, body)
			}
		}
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(p, "/echo/"):
			b, _ := io.ReadAll(r.Body)
			reply(200, string(b))
		case strings.HasPrefix(p, "/ok/"):
			reply(200, "ok "+p+"\n")
		case strings.HasPrefix(p, "/slow/"):
			time.Sleep(150 * time.Millisecond)
			reply(200, "slow "+p+"\n")
		case strings.HasPrefix(p, "/error/"):
			reply(500, "error\n")
		default:
			reply(404, "not found\n")
		}
	})
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux}
	fmt.Println("listening", port)
	log.Fatal(srv.ListenAndServe())
}

func newClient(keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives:   !keepAlive,
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			ForceAttemptHTTP2:   false,
		},
	}
}

// do sends one request, drains the body (so the connection can be reused) and reports
// whether the connection was reused.
func do(c *http.Client, method, url, body string) (int, string, bool, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", false, err
	}
	var reused bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", reused, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Client-Port"), reused, nil
}

func client(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	method := fs.String("method", "GET", "request method")
	body := fs.String("body", "", "request body")
	repeat := fs.Int("repeat", 1, "rounds over the URL list")
	keepAlive := fs.Bool("keepalive", true, "reuse one connection")
	fs.Parse(args)
	c := newClient(*keepAlive)
	for i := 0; i < *repeat; i++ {
		for _, u := range fs.Args() {
			code, port, reused, err := do(c, *method, u, *body)
			if err != nil {
				log.Fatalf("%s %s: %v", *method, u, err)
			}
			fmt.Printf("%d %s %s port=%s reused=%v\n", code, *method, u, port, reused)
		}
	}
}

func ticker(args []string) {
	fs := flag.NewFlagSet("ticker", flag.ExitOnError)
	interval := fs.Duration("interval", 200*time.Millisecond, "pause between requests")
	max := fs.Duration("max", 60*time.Second, "stop after this long")
	fs.Parse(args)
	if fs.NArg() != 1 {
		log.Fatal("ticker needs one URL prefix")
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; stop.Store(true) }()
	c := newClient(true)
	deadline := time.Now().Add(*max)
	for seq := 1; !stop.Load() && time.Now().Before(deadline); seq++ {
		code, port, reused, err := do(c, "GET", fmt.Sprintf("%s%d", fs.Arg(0), seq), "")
		if err != nil {
			log.Fatalf("request %d: %v", seq, err)
		}
		fmt.Printf("%d %d port=%s reused=%v\n", seq, code, port, reused)
		time.Sleep(*interval)
	}
}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 3 {
		log.Fatal("usage: gopeer server PORT | client [flags] URL... | ticker [flags] URL_PREFIX")
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2])
	case "client":
		client(os.Args[2:])
	case "ticker":
		ticker(os.Args[2:])
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

// Go net/http peer for the ztrace end-to-end tests. Standard library only.
//
//	gopeer server PORT
//	gopeer client [-method M] [-body B] [-repeat N] [-keepalive=false] URL...
//	gopeer ticker [-interval 200ms] [-max 60s] URL_PREFIX
//
// server routes: /ok/... 200, /slow/... 200 after 150 ms, /error/... 500, POST /echo/... 200
// echoing the body, GET /chain/... one hop of the chain (below), anything else 404. Every
// response has a Content-Length and X-Client-Port (the client's port as the server sees it).
//
// Chain mode (the e2e chain tests), from the environment: CHAIN_NEXT (base URL of the next
// hop; the handler GETs CHAIN_NEXT<same path> with one shared keep-alive http.Client, in the
// handler's goroutine; unset: the leaf), CHAIN_NAME (name in the report, default "go"),
// CHAIN_OWN_TRACEPARENT ("propagate": send our own traceparent, incoming trace id and a new
// span id, like an instrumented application; any other value is sent as it is),
// CHAIN_PATH_PREFIX (put before the path sent to the next hop: the hop then does not forward
// its request line, so the agent cannot link it by that line). The answer is
// JSON: {"hop", "pid", "method", "path", "peer_port", "traceparent": [received values],
// "tracestate": [...], "sent_traceparent", "next_status", "next": next hop's JSON or null};
// 502 when the next hop fails.
// client sends the URLs in order (N rounds) over one keep-alive connection unless told not
// to, and prints "STATUS METHOD URL port=X-Client-Port reused=BOOL" per request.
// ticker sends GET URL_PREFIX<seq> (seq = 1, 2, ...) over one keep-alive connection, waits
// -interval between requests, prints "SEQ STATUS port=P reused=BOOL" per request, stops after
// the request in flight on SIGTERM/SIGINT (or after -max).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"regexp"
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
		case r.Method == http.MethodGet && strings.HasPrefix(p, "/chain/"):
			chainHop(w, r)
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

var (
	traceparentRe = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)
	chainClient   = &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     60 * time.Second,
			ForceAttemptHTTP2:   false,
		},
	}
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func ownTraceparent(mode string, received []string) string {
	if mode != "propagate" {
		return mode
	}
	traceID := randomHex(16)
	if len(received) == 1 {
		if m := traceparentRe.FindStringSubmatch(strings.TrimSpace(received[0])); m != nil {
			traceID = m[1]
		}
	}
	return "00-" + traceID + "-" + randomHex(8) + "-01"
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// chainHop serves one hop of the chain: calls the next hop (if any) from the handler's
// goroutine and answers with a JSON report that embeds the next hop's answer.
func chainHop(w http.ResponseWriter, r *http.Request) {
	received := nonNil(r.Header.Values("Traceparent"))
	name := os.Getenv("CHAIN_NAME")
	if name == "" {
		name = "go"
	}
	peerPort := 0
	if _, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		fmt.Sscan(port, &peerPort)
	}
	report := map[string]any{
		"hop": name, "pid": os.Getpid(), "method": r.Method, "path": r.URL.RequestURI(),
		"peer_port": peerPort, "traceparent": received,
		"tracestate": nonNil(r.Header.Values("Tracestate")), "sent_traceparent": "",
		"next_status": 0, "next": nil,
	}
	code := 200
	if next := os.Getenv("CHAIN_NEXT"); next != "" {
		nextURL := strings.TrimRight(next, "/") + os.Getenv("CHAIN_PATH_PREFIX") + r.URL.RequestURI()
		req, err := http.NewRequest(http.MethodGet, nextURL, nil)
		if err == nil {
			if own := os.Getenv("CHAIN_OWN_TRACEPARENT"); own != "" {
				tp := ownTraceparent(own, received)
				req.Header.Set("traceparent", tp)
				report["sent_traceparent"] = tp
			}
			var resp *http.Response
			resp, err = chainClient.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				report["next_status"] = resp.StatusCode
				if json.Valid(body) {
					report["next"] = json.RawMessage(body)
				} else {
					report["next"] = string(body)
				}
				if resp.StatusCode != 200 {
					code = 502
				}
			}
		}
		if err != nil {
			report["next"] = "error: " + err.Error()
			code = 502
		}
	}
	body, _ := json.Marshal(report)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Header().Set("X-Client-Port", fmt.Sprint(peerPort))
	w.WriteHeader(code)
	w.Write(body)
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

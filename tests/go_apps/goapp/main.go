// Go HTTP(S) test program of ztrace's symbolizer and Go-probe tests. Standard library plus one
// vendored module (so its build info lists a dependency version).
//
//	goapp server [-tls] PORT        serve /ok/... 200, /error/... 500, /dep/ 200, else 404;
//	                                /call/X GETs $GOAPP_NEXT/ok/next-X (http or https,
//	                                keep-alive, from the handler) and answers with its status
//	goapp client [-n N] [-delay D] URL...  after D, GET each URL N times over one keep-alive client, print
//	                                "STATUS URL" per request (TLS certificates not verified)
//	goapp offsets                   print "Struct.Field offset" of exported fields as the
//	                                compiler laid them out (checks DWARF readers independently)
//
// With -tls the server uses a self-signed certificate made at start (no files needed).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unsafe"

	"example.com/ztracedep"
)

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The handler's client for /call/: one pool shared by concurrent requests; HTTP/1.1, also
// over TLS (certificates not verified).
var nextClient = &http.Client{Timeout: 10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}}}

func handler(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, body string) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/ok/"):
		reply(200, "ok "+p+"\n")
	case strings.HasPrefix(p, "/error/"):
		reply(500, "error\n")
	case strings.HasPrefix(p, "/dep/"):
		reply(200, ztracedep.Banner()+"\n")
	case strings.HasPrefix(p, "/call/"):
		resp, err := nextClient.Get(os.Getenv("GOAPP_NEXT") + "/ok/next-" + strings.TrimPrefix(p, "/call/"))
		if err != nil {
			reply(502, err.Error()+"\n")
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		reply(resp.StatusCode, "called\n")
	default:
		reply(404, "not found\n")
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	fs.Parse(args)
	srv := &http.Server{Addr: "127.0.0.1:" + fs.Arg(0), Handler: http.HandlerFunc(handler)}
	fmt.Println("listening", fs.Arg(0))
	if *useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
		log.Fatal(srv.ListenAndServeTLS("", ""))
	}
	log.Fatal(srv.ListenAndServe())
}

func client(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	n := fs.Int("n", 1, "rounds over the URLs")
	delay := fs.Duration("delay", 0, "wait before the first request (lets a tracer attach)")
	fs.Parse(args)
	time.Sleep(*delay)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: false, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	failed := false
	for i := 0; i < *n; i++ {
		for _, u := range fs.Args() {
			resp, err := c.Get(u)
			if err != nil {
				fmt.Println("ERR", u, err)
				failed = true
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Println(resp.StatusCode, u)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func offsets() {
	var req http.Request
	var u url.URL
	var resp http.Response
	fmt.Println("net/http.Request.Method", unsafe.Offsetof(req.Method))
	fmt.Println("net/http.Request.URL", unsafe.Offsetof(req.URL))
	fmt.Println("net/http.Request.Header", unsafe.Offsetof(req.Header))
	fmt.Println("net/http.Request.Host", unsafe.Offsetof(req.Host))
	fmt.Println("net/http.Request.ContentLength", unsafe.Offsetof(req.ContentLength))
	fmt.Println("net/url.URL.Path", unsafe.Offsetof(u.Path))
	fmt.Println("net/url.URL.Host", unsafe.Offsetof(u.Host))
	fmt.Println("net/http.Response.StatusCode", unsafe.Offsetof(resp.StatusCode))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goapp server [-tls] PORT | goapp client [-n N] URL...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2:])
	case "client":
		client(os.Args[2:])
	case "offsets":
		offsets()
	default:
		os.Exit(2)
	}
}

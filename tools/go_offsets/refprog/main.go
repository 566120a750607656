// Reference program of the Go offset tables: links every type whose layout the Go probes read
// (net/http server and client, crypto/tls, net), so its DWARF describes all of them.
package main

import (
	"crypto/tls"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		http.ListenAndServeTLS(os.Args[1], "", "", nil)
		tls.Dial("tcp", os.Args[1], nil)
	}
	http.Get("http://127.0.0.1:1/")
}

// Command webserver stands in for nginx and httpd in the test bed's images:
// it serves a welcome page on the ports given, as critest's networking and
// multi-container specs expect of those images.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	ports := flag.String("ports", "80", "comma-separated ports to listen on (all addresses, IPv4 and IPv6)")
	name := flag.String("name", "nginx", "server name shown on the page")
	flag.Parse()

	page := fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>Welcome to %s!</title></head>\n<body><h1>Welcome to %s!</h1></body></html>\n", *name, *name)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})
	errs := make(chan error)
	for _, p := range strings.Split(*ports, ",") {
		l, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		log.Printf("%s listening on %s", *name, l.Addr())
		go func() { errs <- http.Serve(l, handler) }()
	}
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}

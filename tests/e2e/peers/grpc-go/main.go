// gRPC peer of the ztrace end-to-end tests, on Debian's grpc-go (GOPATH mode, no modules).
//
// No protobuf code is generated: a codec registered under the name "proto" (so the wire
// content-type stays application/grpc) writes each message as the protobuf encoding of
// peers/grpc-echo.proto's Msg (field 1, bytes), which is all the C++ and Java peers read.
// Service ztrace.e2e.Echo:
//
//	Unary         "ok:<text>" echoes; "fail:<code>:<message>" answers that status; "meta"
//	              answers the traceparent and x-e2e metadata it received,
//	              "traceparent=<v1>,<v2>...;x-e2e=<v>..." (what reached the server, exactly).
//	ServerStream  "<n>" sends n messages then OK; "<n>:fail:<code>" sends n then that status.
//	Bidi          echoes every message until the client half-closes.
//	Unary "relay:<request>" (a server given NEXT) calls NEXT's Unary with <request> from the
//	              handler and answers "relayed <its reply>".
//
// Usage (with GRPC_PEER_TLS_CERT and GRPC_PEER_TLS_KEY set, PEM files, the server serves TLS;
// with GRPC_PEER_TLS=1 the client dials TLS without verifying; the relay's NEXT is plaintext):
//
//	main server ADDR [NEXT]
//	main client ADDR STEP...   one connection for all steps, one result line per call:
//	  unary:<request>            -> "unary code=<c> msgs=<m> reply=<reply, spaces as _>"
//	  stream:<request>           -> "stream code=<c> msgs=<m>"
//	  bidi:<k>                   -> "bidi code=<c> msgs=<m>" (k messages each way)
//	  wait:<file>                waits until file exists (prints "waiting" first)
//	  traceparent:<value>        later calls send this traceparent metadata
//	  header:<key>=<value>       later calls send this metadata too
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

// Msg{data: v}: key of field 1 (length-delimited), a varint length, the bytes.
func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	data := *(v.(*[]byte))
	out := []byte{0x0a}
	for n := uint64(len(data)); ; n >>= 7 {
		if n < 0x80 {
			out = append(out, byte(n))
			break
		}
		out = append(out, byte(n)|0x80)
	}
	return append(out, data...), nil
}

func (rawCodec) Unmarshal(wire []byte, v interface{}) error {
	p := v.(*[]byte)
	*p = (*p)[:0]
	if len(wire) == 0 {
		return nil // every field at its default
	}
	if wire[0] != 0x0a {
		return fmt.Errorf("not an Echo Msg")
	}
	n, shift, i := uint64(0), uint(0), 1
	for ; i < len(wire); i++ {
		n |= uint64(wire[i]&0x7f) << shift
		shift += 7
		if wire[i] < 0x80 {
			i++
			break
		}
	}
	if uint64(len(wire)-i) < n {
		return fmt.Errorf("truncated Echo Msg")
	}
	*p = append(*p, wire[i:i+int(n)]...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func failure(spec string) error {
	parts := strings.SplitN(spec, ":", 2)
	code, _ := strconv.Atoi(parts[0])
	msg := "failed on purpose"
	if len(parts) == 2 {
		msg = parts[1]
	}
	return status.Error(codes.Code(code), msg)
}

func unary(srv interface{}, ctx context.Context, dec func(interface{}) error,
	_ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req := string(in)
	if req == "meta" {
		md, _ := metadata.FromIncomingContext(ctx)
		out := []byte("traceparent=" + strings.Join(md.Get("traceparent"), ",") +
			";x-e2e=" + strings.Join(md.Get("x-e2e"), ","))
		return &out, nil
	}
	if strings.HasPrefix(req, "fail:") {
		return nil, failure(strings.TrimPrefix(req, "fail:"))
	}
	if strings.HasPrefix(req, "relay:") && nextAddr != "" {
		in, reply := []byte(strings.TrimPrefix(req, "relay:")), []byte{}
		if err := nextConn().Invoke(ctx, "/ztrace.e2e.Echo/Unary", &in, &reply); err != nil {
			return nil, err
		}
		out := []byte("relayed " + string(reply))
		return &out, nil
	}
	out := []byte("echo " + strings.TrimPrefix(req, "ok:"))
	return &out, nil
}

func serverStream(srv interface{}, stream grpc.ServerStream) error {
	var in []byte
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	parts := strings.SplitN(string(in), ":fail:", 2)
	n, _ := strconv.Atoi(parts[0])
	for i := 0; i < n; i++ {
		out := []byte(fmt.Sprintf("item %d", i))
		if err := stream.SendMsg(&out); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(parts) == 2 {
		return failure(parts[1])
	}
	return nil
}

func bidi(srv interface{}, stream grpc.ServerStream) error {
	for {
		var in []byte
		err := stream.RecvMsg(&in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.SendMsg(&in); err != nil {
			return err
		}
	}
}

var echoService = grpc.ServiceDesc{
	ServiceName: "ztrace.e2e.Echo",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unary}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
		{StreamName: "Bidi", Handler: bidi, ServerStreams: true, ClientStreams: true},
	},
}

// The next service of relay requests ("" when none), dialled at the first one.
var nextAddr string
var dialNext sync.Once
var next *grpc.ClientConn

func nextConn() *grpc.ClientConn {
	dialNext.Do(func() {
		conn, err := grpc.Dial(nextAddr, grpc.WithInsecure())
		if err != nil {
			log.Fatal(err)
		}
		next = conn
	})
	return next
}

func serve(addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cert := os.Getenv("GRPC_PEER_TLS_CERT"); cert != "" {
		creds, err := credentials.NewServerTLSFromFile(cert, os.Getenv("GRPC_PEER_TLS_KEY"))
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&echoService, struct{}{})
	log.Printf("listening %s", addr)
	log.Fatal(s.Serve(lis))
}

func codeOf(err error) codes.Code { return status.Code(err) }

var traceparent string
var extraMetadata []string // key, value, key, value...

func runStep(conn *grpc.ClientConn, step string) {
	kind, arg := step, ""
	if i := strings.Index(step, ":"); i >= 0 {
		kind, arg = step[:i], step[i+1:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	if len(extraMetadata) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, extraMetadata...)
	}
	switch kind {
	case "traceparent":
		traceparent = arg
	case "header":
		kv := strings.SplitN(arg, "=", 2)
		extraMetadata = append(extraMetadata, kv[0], kv[1])
	case "wait":
		fmt.Println("waiting")
		for {
			if _, err := os.Stat(arg); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "unary":
		in, out := []byte(arg), []byte{}
		err := conn.Invoke(ctx, "/ztrace.e2e.Echo/Unary", &in, &out)
		msgs := 0
		if err == nil {
			msgs = 1
		}
		fmt.Printf("unary code=%d msgs=%d reply=%s\n", codeOf(err), msgs,
			strings.ReplaceAll(string(out), " ", "_"))
	case "stream":
		desc := &echoService.Streams[0]
		s, err := conn.NewStream(ctx, desc, "/ztrace.e2e.Echo/ServerStream")
		msgs := 0
		if err == nil {
			in := []byte(arg)
			err = s.SendMsg(&in)
			if err == nil {
				err = s.CloseSend()
			}
			for err == nil {
				var out []byte
				if err = s.RecvMsg(&out); err == nil {
					msgs++
				}
			}
			if err == io.EOF {
				err = nil
			}
		}
		fmt.Printf("stream code=%d msgs=%d\n", codeOf(err), msgs)
	case "bidi":
		desc := &echoService.Streams[1]
		k, _ := strconv.Atoi(arg)
		s, err := conn.NewStream(ctx, desc, "/ztrace.e2e.Echo/Bidi")
		msgs := 0
		for i := 0; err == nil && i < k; i++ {
			in := []byte(fmt.Sprintf("ping %d", i))
			if err = s.SendMsg(&in); err == nil {
				var out []byte
				if err = s.RecvMsg(&out); err == nil {
					msgs++
				}
			}
		}
		if err == nil {
			err = s.CloseSend()
		}
		for err == nil {
			var out []byte
			err = s.RecvMsg(&out)
		}
		if err == io.EOF {
			err = nil
		}
		fmt.Printf("bidi code=%d msgs=%d\n", codeOf(err), msgs)
	default:
		log.Fatalf("unknown step %q", step)
	}
}

func main() {
	encoding.RegisterCodec(rawCodec{})
	if len(os.Args) < 3 {
		log.Fatal("usage: server ADDR | client ADDR STEP...")
	}
	switch os.Args[1] {
	case "server":
		if len(os.Args) > 3 {
			nextAddr = os.Args[3]
		}
		serve(os.Args[2])
	case "client":
		security := grpc.WithInsecure()
		if os.Getenv("GRPC_PEER_TLS") == "1" {
			security = grpc.WithTransportCredentials(
				credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))
		}
		conn, err := grpc.Dial(os.Args[2], security, grpc.WithBlock())
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		for _, step := range os.Args[3:] {
			runStep(conn, step)
		}
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

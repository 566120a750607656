/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Linking by goroutine (Go processes): the maps socket_trace.bpf.c and go_probes.bpf.c share.
 * socket_trace owns them and go_probes reuses their fds, so both declare them identically.
 *
 * Go's goroutines move between threads, so a Go server's requests are followed by the g
 * (R14 in Go code, still there at the entry of a syscall Go makes). The goroutine that reads
 * a request head serves it (net/http's conn.serve runs the handler); its outgoing call is
 * handed to the connection's writeLoop goroutine, which the net/http probes follow:
 *   request head read by g1          -> goroutine_requests[g1]
 *   persistConn.roundTrip(req) in g1 -> (go_probes) parent of req
 *   Request.write(req) in g2         -> goroutine_client_parents[g2]
 *   write() of the request by g2     -> the client span's parent
 */
#pragma once

#include "bpf/go_probes.h"
#include "bpf/socket_trace.h"

struct goroutine_key {
	__u32 tgid;
	__u32 pad;
	__u64 g; /* address of the runtime.g; unique in its process while the goroutine lives */
};

/* A request a server is serving, as the thread or goroutine that read its head knows it. */
struct served_request {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	__u8 pad[3];
	__s32 fd;
	__u64 generation;
	__u32 request_number; /* the connection's requests_read once this one was read */
	__u32 pad2;
	__u64 line_hash;      /* key of its open_requests_by_line entry (0: none) */
};

/* key: tgid; value: offsets of its binary. Written by userspace (probes/go) when the Go
 * probes attach to a process, deleted at exit. A process without an entry is neither traced
 * by the Go probes nor linked by goroutine. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct zt_go_offsets);
} go_processes SEC(".maps");

/* key: (tgid, g); value: the request the goroutine serves. Written when it reads a request
 * head; LRU: goroutines that end age out, and a stale entry is recognised by its connection's
 * response counter. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct served_request);
} goroutine_requests SEC(".maps");

/* The parent of the request a goroutine is about to write. */
struct goroutine_client_parent {
	struct served_request parent;
	__u64 request; /* the *http.Request being written */
};

/* key: (tgid, g) of the goroutine writing a client request; value: its parent. Written by
 * go_probes at Request.write; taken (deleted) by socket_trace at the request's first write. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct goroutine_client_parent);
} goroutine_client_parents SEC(".maps");

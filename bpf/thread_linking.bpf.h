/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Linking by thread: the request each thread serves, and the parent a client request the
 * thread writes gets from it. Shared by the syscall layer (http1_linking.bpf.h) and the TLS
 * plaintext the Java agent hands over (openssl_probes.bpf.c), so a request read at one layer
 * is the parent of a call written at the other.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/goroutine_maps.bpf.h" /* struct served_request */
#include "bpf/http1_context.bpf.h"  /* request_unanswered */
#include "bpf/socket_trace.h"

/* key: pid_tgid; value: the request the thread serves. Written when the thread reads a request
 * head, replaced by its next one; LRU: threads that vanish age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct served_request);
} thread_requests SEC(".maps");

/* key: pid_tgid; value: unused. Threads seen multiplexing requests; written here, LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} multiplexing_threads SEC(".maps");

/* key: tgid; value: unused. Processes userspace has checked to be ones whose threads map to
 * the requests they serve (not Go). Until a process is checked its client requests get no
 * parent by thread: unlinked is acceptable, wrongly linked is not. Written and deleted by
 * userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} thread_linkable_processes SEC(".maps");

/* A message the thread polled from librdkafka (rdkafka_probes.bpf.c): its context, and the
 * thread's served request at the poll, so that a request the thread reads afterwards (an entry
 * of thread_requests that differs) supersedes the message. */
struct processed_message {
	struct served_request context; /* trace_id, span_id and trace_flags only */
	__s32 request_fd;              /* thread_requests' entry at the poll; -1: none */
	__u32 request_number;
	__u64 request_generation;
};

/* key: pid_tgid; value: the message the thread processes. Written by a librdkafka poll that
 * returned a message, deleted by the thread's next poll that returned none and by
 * rd_kafka_consumer_close (rdkafka_probes.bpf.c); LRU: threads that vanish age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct processed_message);
} thread_messages SEC(".maps");

static __always_inline bool polled_while(const struct processed_message *m,
					 const struct served_request *served)
{
	if (!served)
		return m->request_fd == -1;
	return m->request_fd == served->fd && m->request_generation == served->generation &&
	       m->request_number == served->request_number;
}

/* The parent the thread rules give a client request written by this thread: *origin is
 * THREAD (the returned request) or MESSAGE (the returned message's context), or why there is
 * none. A message counts only while the thread has read no request since it polled it and
 * serves none unanswered (a poll inside a handler: either could be the parent). */
static __always_inline struct served_request *parent_by_thread(__u64 pid_tgid, __u8 *origin)
{
	__u32 tgid = pid_tgid >> 32;
	struct served_request *served = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	struct processed_message *message = bpf_map_lookup_elem(&thread_messages, &pid_tgid);
	if (message && !polled_while(message, served))
		message = NULL; /* a request read after the poll supersedes it */
	bool unanswered = served && request_unanswered(tgid, served->fd, served->generation,
						       served->request_number);
	*origin = ZT_CTX_CLIENT_ROOT;
	if (!served && !message)
		return NULL;
	if (served && !unanswered && !message)
		*origin = ZT_CTX_CLIENT_STALE;
	else if (!bpf_map_lookup_elem(&thread_linkable_processes, &tgid))
		*origin = ZT_CTX_CLIENT_UNTRUSTED;
	else if (bpf_map_lookup_elem(&multiplexing_threads, &pid_tgid) || (message && unanswered))
		*origin = ZT_CTX_CLIENT_AMBIGUOUS;
	else if (message)
		*origin = ZT_CTX_CLIENT_MESSAGE;
	else
		*origin = ZT_CTX_CLIENT_THREAD;
	if (*origin == ZT_CTX_CLIENT_MESSAGE)
		return &message->context;
	return *origin == ZT_CTX_CLIENT_THREAD ? served : NULL;
}

/* The request with context ctx just read on connection fd (info), its latest. */
static __always_inline void served_request_of(struct served_request *out,
					      const struct zt_trace_context *ctx, int fd,
					      const struct zt_conn_info *info)
{
	__builtin_memcpy(out->trace_id, ctx->trace_id, 16);
	__builtin_memcpy(out->span_id, ctx->span_id, 8);
	out->trace_flags = ctx->trace_flags;
	out->fd = fd;
	out->generation = info->generation;
	out->request_number = info->requests_read;
}

/* The thread now serves `current`. One it still served on another connection, or before on
 * this one, unanswered, makes it a thread that multiplexes requests. The thread's existing
 * entry is overwritten in place, without a map update (a hash, an element to allocate and one
 * to free): only the thread itself writes or reads its entry, from programs that run in its
 * context, so no one sees it half written. */
static __always_inline void thread_serves(__u64 pid_tgid, const struct served_request *current)
{
	struct served_request *previous = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (previous &&
	    request_unanswered(pid_tgid >> 32, previous->fd, previous->generation,
			       previous->request_number) &&
	    !(previous->fd == current->fd && previous->generation == current->generation)) {
		__u8 one = 1;
		bpf_map_update_elem(&multiplexing_threads, &pid_tgid, &one, BPF_ANY);
	}
	if (previous)
		*previous = *current;
	else
		bpf_map_update_elem(&thread_requests, &pid_tgid, current, BPF_ANY);
}

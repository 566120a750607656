/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A write on an HTTP/1.x client connection, at syscall entry: the context of the request it
 * starts (http1_linking.bpf.h) and, when injection is on and the write starts a request at a
 * boundary the kernel knows (http1_framing.bpf.h), its traceparent queued for sk_msg.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/data_capture.bpf.h"
#include "bpf/http1_context.bpf.h"
#include "bpf/http1_framing.bpf.h"
#include "bpf/http1_linking.bpf.h"
#include "bpf/kafka_request.bpf.h"
#include "bpf/postgresql_request.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"

/* key: (tgid, fd) of a client connection opened before the agent (its connect() was not
 * seen, so its role is unknown); value: unused. Written by userspace when it adopts the
 * connection for injection; deleted here when its first request makes it a client. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct zt_conn_key);
	__type(value, __u8);
} client_fd_hints SEC(".maps");

/* At the entry of a write on a client connection whose boundaries are known and that is
 * inside a message: never a new request (a body may look like one). */
static __always_inline void client_write_in_message(struct syscall_args *args,
						    struct zt_conn_info *info)
{
	h1_plan(args, info, info->h1_message_left, 0);
	args->h1_chunked = info->h1_chunk_state != H1_CHUNK_NONE;
	__u32 first4 = 0;
	__u64 first = args->syscall == ZT_SYS_SENDFILE ? 0 : first_byte_address(args);
	if (first && !bpf_probe_read_user(&first4, 4, (void *)first) && is_request_start(first4))
		count_inject(ZT_INJECT_H1_IN_MESSAGE);
}

/* Queues for sk_msg the traceparent of the request a write starts (its context is made),
 * right after its request line. Not inlined: the entry is built on a frame of its own, off
 * the head scan's call chain. */
static __noinline void queue_injection(struct syscall_args *args, const struct zt_conn_info *info,
				       __u32 insert_offset, __u32 first4)
{
	struct zt_pending_injection pending = {};
	pending.trace = args->trace;
	pending.insert_offset = insert_offset;
	pending.first4 = first4;
	struct zt_inject_key key = {};
	inject_key_of(&info->tuple, &key);
	if (bpf_map_update_elem(&pending_injections, &key, &pending, BPF_ANY) == 0)
		args->injection_pending |= INJECTION_PENDING_HTTP1;
}

/* A write on a client connection that is not HTTP/1: whatever it is, the records of the
 * connection's last Fetch response are processed (kafka_request.bpf.h). A Produce gets its
 * parent; a Fetch's response is waited for. */
static __always_inline void on_kafka_client_write(struct syscall_args *args, __u64 pid_tgid,
						  struct zt_conn_info *info, __u64 first,
						  __u32 first4)
{
	info->responses_started = info->requests_read;
	__u32 correlation = 0;
	int api_key = kafka_request_at(args, first, first4, &correlation);
	if (api_key == KAFKA_PRODUCE) {
		on_client_request(&args->trace, pid_tgid, NULL, 0);
	} else if (api_key == KAFKA_FETCH) {
		info->kafka_fetch_correlation = correlation;
		info->kafka_fetch_pending = 1;
	}
}

/* At the entry of a write: if it starts a request on a client socket, make the client span's
 * context and, when injection is on, queue its traceparent for sk_msg. Only into a request
 * that starts at a message boundary the kernel knows (http1_framing.bpf.h), whose head it
 * saw whole, and that carries no traceparent of its own (the application's context stands).
 */
static __noinline void classify_client_write(struct syscall_args *args, __u64 pid_tgid,
					      struct zt_conn_info *info)
{
	/* A server's writes are responses: none of the reads below is needed for them. */
	if (info->role == ZT_ROLE_SERVER)
		return;
	bool framed = h1_boundaries_known(info);
	if (framed && (info->h1_message_left || info->h1_chunk_state != H1_CHUNK_NONE)) {
		client_write_in_message(args, info);
		return;
	}
	if (args->syscall == ZT_SYS_SENDFILE) {
		if (framed) { /* a message whose head cannot be read, if it sends anything */
			h1_plan(args, info, 0, 0);
			args->h1_unread = 1;
		}
		return;
	}
	__u64 first = first_byte_address(args);
	__u32 first4 = 0;
	if (!first || bpf_probe_read_user(&first4, 4, (void *)first)) {
		if (framed && args->len) /* nothing can go out of an unreadable buffer; be sure */
			h1_stop(info, ZT_INJECT_H1_NOT_HTTP1);
		return;
	}
	bool request_start = is_request_start(first4);
	if (!request_start) {
		/* A PostgreSQL query or a Kafka Produce gets the parent an HTTP request would;
		 * never injected into: the context only parents its span. Also a connection's
		 * first write, which ends HTTP/1 framing below (kafkajs opens a connection with
		 * a Fetch). */
		if (info->role != ZT_ROLE_SERVER && postgresql_request_start(first4))
			on_client_request(&args->trace, pid_tgid, NULL, 0);
		else if (info->role == ZT_ROLE_CLIENT)
			on_kafka_client_write(args, pid_tgid, info, first, first4);
		if (!framed)
			return;
	}
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	/* The head is looked at in the first buffer only. Without injection only the request line
	 * (for forwarded-request linking) is needed. */
	__u32 head = inject_enabled ? traceparent_scan_bytes : REQUEST_LINE_HASH_MAX_BYTES;
	if (head > TRACEPARENT_SCAN_MAX_BYTES)
		head = TRACEPARENT_SCAN_MAX_BYTES;
	__u64 first_len = args->iovcnt ? 0 : args->len;
	if (args->iovcnt) {
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
			return;
		first_len = iov.iov_len;
	}
	if (framed && !args->iovcnt && !first_len)
		return; /* writes nothing */
	if (first_len < head)
		head = first_len;
	head &= (2 * TRACEPARENT_SCAN_MAX_BYTES - 1);
	if (head > TRACEPARENT_SCAN_MAX_BYTES)
		head = TRACEPARENT_SCAN_MAX_BYTES;
	if (bpf_probe_read_user(s->event.data, head, (void *)first))
		head = 0;
	if (request_start)
		on_client_request(&args->trace, pid_tgid, s->event.data, head);
	if (!inject_enabled)
		return;
	struct zt_conn_key conn_key = { .tgid = pid_tgid >> 32, .fd = args->fd };
	if (request_start && info->role == ZT_ROLE_UNKNOWN &&
	    bpf_map_lookup_elem(&client_fd_hints, &conn_key)) {
		/* Adopted at startup: what it sent before the agent is unknown, and so is where
		 * its messages begin. Its requests are traced, never injected. */
		info->role = ZT_ROLE_CLIENT;
		bpf_map_delete_elem(&client_fd_hints, &conn_key);
		count_inject(ZT_INJECT_H1_JOINED_MIDWAY);
	}
	if (!framed) {
		if (request_start && info->role == ZT_ROLE_CLIENT)
			count_inject(ZT_INJECT_H1_UNKNOWN_BOUNDARY);
		return;
	}

	/* At a boundary: the head says where this message ends. */
	struct h1_head h = { .len = head, .first_len = first_len };
	h.starts_like_request = head >= 4 ? request_start : is_request_start_prefix(first4, head);
	h1_frame_head(s, &h);
	if (h.stop == H1_FOLLOW) {
		h1_plan(args, info, h.message_bytes, h.head_bytes);
		args->h1_chunked = h.chunked;
	} else {
		h1_stop(info, h.stop);
	}
	if (!h.whole || !request_start)
		return;
	if (h.has_traceparent) {
		count_inject(ZT_INJECT_HAD_HEADER);
		return;
	}
	queue_injection(args, info, h.line_end, first4);
}

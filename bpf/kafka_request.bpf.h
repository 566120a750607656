/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kafka requests and responses in the kernel, for the in-process rules:
 * - a client write that starts a Produce gets the parent an HTTP/1 request would
 *   (on_client_request);
 * - the read that starts the response to a Fetch makes a receive context: the thread that read
 *   it processes the records it brought until it writes again on that connection (its next
 *   Fetch, a commit), and the calls it makes meanwhile are the receive's children, bounded
 *   and checked as a served request is (thread_linking.bpf.h).
 * Never injected into: a message's context travels in its records, which the agent does not
 * rewrite. The parser in userspace (userspace/protocols/kafka) decides what the bytes are:
 * a context no exchange claims is dropped there.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/http1_context.bpf.h" /* random_bytes */
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"
#include "bpf/thread_linking.bpf.h"
#include "bpf/trace_sampling.bpf.h"

#define KAFKA_PRODUCE 0
#define KAFKA_FETCH 1
#define KAFKA_OTHER -1

/* The API key of the Kafka request (kafka.apache.org/protocol: int32 size, int16 api_key,
 * int16 api_version, int32 correlation_id) that begins the write's first buffer, whose first
 * 4 bytes are `first4`: KAFKA_PRODUCE (v0-v12), KAFKA_FETCH (v0-v17) or KAFKA_OTHER.
 * *correlation: its correlation id as written (big-endian). */
static __always_inline int kafka_request_at(const struct syscall_args *args, __u64 first,
					    __u32 first4, __u32 *correlation)
{
	__u64 first_len = args->len;
	if (args->iovcnt) {
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
			return KAFKA_OTHER;
		first_len = iov.iov_len;
	}
	__u32 words[2] = {};
	if (first_len < 12 || bpf_probe_read_user(words, sizeof(words), (void *)(first + 4)))
		return KAFKA_OTHER;
	__u32 size = bpf_ntohl(first4);
	if (size < 10 || size > (256u << 20))
		return KAFKA_OTHER;
	__u16 api_key = bpf_ntohs(words[0] & 0xffff), api_version = bpf_ntohs(words[0] >> 16);
	*correlation = words[1];
	if (api_key == KAFKA_PRODUCE && api_version <= 12)
		return KAFKA_PRODUCE;
	if (api_key == KAFKA_FETCH && api_version <= 17)
		return KAFKA_FETCH;
	return KAFKA_OTHER;
}

/* A read of `ret` bytes at `first` on a client connection waiting for a Fetch's response. If
 * it starts that response (int32 size, then the Fetch's correlation id), make the receive's
 * context in *ctx and let the thread serve it: its client calls become the receive's
 * children until a write on this connection ends it (requests_read / responses_started
 * count the connection's Fetch responses read and the writes after them). A response whose
 * header is split across reads is not seen: its calls keep the parent they had. */
static __always_inline void on_kafka_response_read(struct zt_trace_context *ctx, __u64 first,
						   long ret, __u64 pid_tgid,
						   struct zt_conn_info *info, int fd)
{
	__u32 head[2] = {};
	if (ret < 8 || bpf_probe_read_user(head, sizeof(head), (void *)first))
		return;
	if (head[1] != info->kafka_fetch_correlation)
		return; /* another request's response: the Fetch's is still to come */
	info->kafka_fetch_pending = 0;
	random_bytes(ctx->trace_id, 16);
	random_bytes(ctx->span_id, 8);
	__builtin_memset(ctx->parent_span_id, 0, 8);
	ctx->trace_flags = new_trace_flags(ctx->trace_id);
	ctx->origin = ZT_CTX_MESSAGE_RECEIVE;

	info->requests_read += 1;
	struct served_request current = {};
	served_request_of(&current, ctx, fd, info);
	thread_serves(pid_tgid, &current);
}

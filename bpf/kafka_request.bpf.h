/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kafka requests in the kernel: which client writes start a Produce, so that a send gets its
 * parent by the in-process rules (on_client_request) as an HTTP/1 request does. Never
 * injected into: a message's context travels in its records, which the agent does not
 * rewrite. The parser in userspace (userspace/protocols/kafka) decides what the bytes are.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/syscall_args.bpf.h"

/* A Kafka Produce request (kafka.apache.org/protocol: int32 size, int16 api_key 0, int16
 * api_version) begins the write's first buffer, whose first 4 bytes are `first4`. */
static __always_inline bool kafka_produce_at(const struct syscall_args *args, __u64 first,
					     __u32 first4)
{
	__u64 first_len = args->len;
	if (args->iovcnt) {
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)args->buf))
			return false;
		first_len = iov.iov_len;
	}
	__u32 next4 = 0;
	if (first_len < 8 || bpf_probe_read_user(&next4, 4, (void *)(first + 4)))
		return false;
	__u32 size = bpf_ntohl(first4);
	return size >= 10 && size <= (256u << 20) && (next4 & 0xffff) == 0 && /* api_key 0 */
	       bpf_ntohs(next4 >> 16) <= 12;                                 /* api_version */
}

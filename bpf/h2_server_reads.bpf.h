/* SPDX-License-Identifier: GPL-2.0 */
/* HTTP/2 server connections, known by the client preface that opens their ingress. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/goroutine_maps.bpf.h"
#include "bpf/h2_preface.bpf.h"
#include "bpf/socket_trace.h"

/* A read on a server socket (the arguments of note_h2_server_read). */
struct server_read {
	__u64 pid_tgid;
	__u64 first; /* address of the first byte read */
	__s64 bytes;
	__s32 fd;
	__u32 pad;
};

/* HTTP/2 server connections are known by the client preface that opens their ingress. In a
 * Go process the goroutine that reads one is recorded: the gRPC probes learn from it which
 * connection the headers they decode came from (goroutine_maps.bpf.h). Untraced sockets are
 * recorded too, so that their streams are skipped rather than counted as of an unknown
 * connection. Global: verified once. */
__noinline int note_h2_server_read(struct zt_conn_info *info, const struct server_read *read)
{
	if (!info || !read || info->role != ZT_ROLE_SERVER)
		return 0;
	if (info->h2_state == ZT_H2_UNDECIDED) /* the first read seen decides */
		info->h2_state = h2_preface_at(read->first, read->bytes) ? ZT_H2_SERVER : ZT_H2_NOT_H2;
	if (info->h2_state != ZT_H2_SERVER)
		return 0;
	__u32 tgid = read->pid_tgid >> 32;
	__u64 g = current_goroutine(tgid);
	struct h2_reader reader = { .fd = read->fd,
				    .traced = info->is_traced_socket,
				    .generation = info->generation };
	if (g)
		note_h2_reader(tgid, g, &reader);
	return 0;
}

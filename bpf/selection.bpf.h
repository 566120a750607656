/* SPDX-License-Identifier: GPL-2.0 */
/* Which processes and connections are traced: the selection rules userspace applies. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/settings.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_trace.h"

/* key: tgid; value: unused. Written by userspace (selection rules) and by the fork hook
 * (children of traced processes); deleted by the exit hook and by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} traced_pids SEC(".maps");

static __always_inline bool process_selected(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (tgid == agent_tgid)
		return false;
	if (trace_all_processes)
		return true;
	return bpf_map_lookup_elem(&traced_pids, &tgid) != NULL;
}

static __always_inline bool port_selected(const struct zt_tuple *t)
{
	if (!filter_by_port)
		return true;
	__u16 local = t->local_port, remote = t->remote_port;
	return bpf_map_lookup_elem(&traced_ports, &local) ||
	       bpf_map_lookup_elem(&traced_ports, &remote);
}


/* SPDX-License-Identifier: GPL-2.0 */
/* Process exec and exit events for userspace (its process table and selection rules). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/event_output.bpf.h"
#include "bpf/socket_trace.h"

/* Process events are too big for the stack (argv). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zt_proc_event);
} proc_scratch SEC(".maps");

static __always_inline struct zt_proc_event *new_proc_event(__u8 type)
{
	__u32 zero = 0;
	struct zt_proc_event *ev = bpf_map_lookup_elem(&proc_scratch, &zero);
	if (!ev)
		return NULL;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	ev->type = type;
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->timestamp_ns = bpf_ktime_get_ns();
	ev->start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->filename_bytes = 0;
	ev->argv_bytes = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return ev;
}

static __always_inline void submit_proc_event(struct zt_proc_event *ev, __u64 size, __u64 flags)
{
	if (size > sizeof(*ev))
		size = sizeof(*ev);
	if (bpf_ringbuf_output(&events, ev, size, flags))
		count_drop(ZT_DROP_CONTROL_RINGBUF_FULL);
}

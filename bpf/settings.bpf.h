/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Settings userspace writes before load (the .rodata of the object that includes this). In
 * one header, so that every header that reads one includes it and stands alone; an object
 * that does not set one keeps its default.
 */
#pragma once

#include "vmlinux.h"

const volatile __u32 agent_tgid = 0;       /* never traced */
const volatile __u8 trace_all_processes = 1; /* else only tgids in traced_pids */
const volatile __u8 filter_by_port = 0;    /* only connections with a port in traced_ports */
const volatile __u32 max_pieces_per_call = 4;
const volatile __u32 traceparent_scan_bytes = 2048; /* of a request head, for its traceparent */
const volatile __u8 inject_enabled = 0;             /* queue traceparent headers for sk_msg */


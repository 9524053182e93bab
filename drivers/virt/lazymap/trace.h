/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM lazymap

#if !defined(_LAZYMAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _LAZYMAP_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(lazymap_fault,
	TP_PROTO(const char *space, unsigned long address, unsigned long pgoff,
		 unsigned int order, unsigned int ret),
	TP_ARGS(space, address, pgoff, order, ret),
	TP_STRUCT__entry(
		__string(space, space)
		__field(unsigned long, address)
		__field(unsigned long, pgoff)
		__field(unsigned int, order)
		__field(unsigned int, ret)
	),
	TP_fast_assign(
		__assign_str(space);
		__entry->address = address;
		__entry->pgoff = pgoff;
		__entry->order = order;
		__entry->ret = ret;
	),
	TP_printk("space=%s address=0x%lx pgoff=0x%lx order=%u ret=0x%x",
		  __get_str(space), __entry->address, __entry->pgoff,
		  __entry->order, __entry->ret)
);

TRACE_EVENT(lazymap_zap,
	TP_PROTO(const char *space, unsigned long pgoff, unsigned long nr),
	TP_ARGS(space, pgoff, nr),
	TP_STRUCT__entry(
		__string(space, space)
		__field(unsigned long, pgoff)
		__field(unsigned long, nr)
	),
	TP_fast_assign(
		__assign_str(space);
		__entry->pgoff = pgoff;
		__entry->nr = nr;
	),
	TP_printk("space=%s pgoff=0x%lx nr=%lu", __get_str(space),
		  __entry->pgoff, __entry->nr)
);

TRACE_EVENT(lazymap_revoke,
	TP_PROTO(const char *space, unsigned long pgoff, unsigned long nr,
		 bool revoke),
	TP_ARGS(space, pgoff, nr, revoke),
	TP_STRUCT__entry(
		__string(space, space)
		__field(unsigned long, pgoff)
		__field(unsigned long, nr)
		__field(bool, revoke)
	),
	TP_fast_assign(
		__assign_str(space);
		__entry->pgoff = pgoff;
		__entry->nr = nr;
		__entry->revoke = revoke;
	),
	TP_printk("space=%s %s pgoff=0x%lx nr=%lu", __get_str(space),
		  __entry->revoke ? "revoke" : "restore", __entry->pgoff,
		  __entry->nr)
);

TRACE_EVENT(lazymap_launder,
	TP_PROTO(const char *space, unsigned long index, unsigned long nr),
	TP_ARGS(space, index, nr),
	TP_STRUCT__entry(
		__string(space, space)
		__field(unsigned long, index)
		__field(unsigned long, nr)
	),
	TP_fast_assign(
		__assign_str(space);
		__entry->index = index;
		__entry->nr = nr;
	),
	TP_printk("space=%s index=0x%lx nr=%lu", __get_str(space),
		  __entry->index, __entry->nr)
);

#endif /* _LAZYMAP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>

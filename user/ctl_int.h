/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internals shared by prog.c, ctl.c, service.c (not part of the ctl.h contract). */
#ifndef __DROVER_CTL_INT_H
#define __DROVER_CTL_INT_H

#include <stdbool.h>

#include "ctl.h"

/* Take flock() on the pin root, retrying up to ~30 s; fd or -errno (with a message). */
int drv_root_lock(const char *root);
/* One try, silent: the lock fd, or -EWOULDBLOCK while another holds it (other -errno said). */
int drv_root_trylock(const char *root);
/*
 * Check every pinned map under @root against the maps of the embedded program
 * (type, key, value, entries). *npinned: how many pins exist, *nmaps: how many
 * maps the program pins. 0, or -EPROTO (message) on a mismatch.
 */
int drv_maps_check(const char *root, int *npinned, int *nmaps);
/*
 * Open the pin @path as a BPF map: its fd, or -errno with a message naming it,
 * what it is if not a map (a directory, a program), and what to do. A missing
 * pin (-ENOENT) is silent with @quiet_missing.
 */
int drv_map_pin_open(const char *path, bool quiet_missing);
/* Remove every map pin of the embedded program under @root. */
void drv_maps_unpin(const char *root);
/* Have we CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN? 0 or -EPERM (message names @what). */
int drv_caps_check(const char *what);

/* Every slot of drv_bes, freshly allocated (caller frees); NULL with errno set, and a message. */
struct drv_backend *drv_bes_load(struct drv_ctl *ctl);
/* How many backend ids (1..DRV_MAX_BACKENDS-1) of @bes, as drv_bes_load read them, are in use. */
__u32 drv_bes_used(const struct drv_backend *bes);

/*
 * Is @s, the value of service @key, one drover can index its Maglev windows
 * with (id, slot, table size in range)? 0, or -EINVAL with a message naming
 * the service and saying what to do. Indexing with another would read or
 * write outside the service's windows.
 */
int drv_svc_value_check(const struct drv_ctl *ctl, const struct drv_svc_key *key,
			const struct drv_svc *s);

#endif /* __DROVER_CTL_INT_H */

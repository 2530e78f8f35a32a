// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Loading drover's XDP program, attaching it to interfaces through pinned
 * bpf_links, and the checks that keep an operator from hurting themselves:
 * missing interface, foreign XDP program, no bpffs, missing capabilities,
 * pins from an incompatible drover.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drover/maps.h"
#include "drover.skel.h"
#include "ctl.h"
#include "ctl_int.h"
#include "log.h"
#include "nodesetup.h"
#include "util.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const char *errstr(int err, char *buf, size_t len)
{
	libbpf_strerror(err, buf, len);
	return buf;
}

int drv_caps_check(const char *what)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	bool bpf, net;

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* can't tell: let the kernel decide */
#define HAS(c) (data[(c) / 32].effective & (1u << ((c) % 32)))
	bpf = HAS(CAP_BPF) || HAS(CAP_SYS_ADMIN);
	net = HAS(CAP_NET_ADMIN);
#undef HAS
	if (bpf && net)
		return 0;
	pr_warn("Error: %s needs CAP_BPF and CAP_NET_ADMIN, this process lacks %s%s%s: run it as root or grant the capabilities (container securityContext, setcap)\n",
		what, bpf ? "" : "CAP_BPF", !bpf && !net ? " and " : "",
		net ? "" : "CAP_NET_ADMIN");
	return -EPERM;
}

int drv_bpffs_probe(const char *root, char *msg, size_t len)
{
	char tmp[PATH_MAX];
	struct statfs st;
	const char *where = root;
	int err;

	if (statfs(root, &st)) {
		if (errno != ENOENT) {
			err = -errno;
			snprintf(msg, len, "can't stat pin root %s: %s", root, strerror(-err));
			return err;
		}
		snprintf(tmp, sizeof(tmp), "%s", root);
		where = dirname(tmp);
		if (statfs(where, &st)) {
			snprintf(
				msg, len,
				"pin root %s: %s does not exist; mount a bpffs there (mkdir -p %s && mount -t bpf bpf %s) or pass another --bpffs",
				root, where, where, where);
			return -ENOENT;
		}
	}
	if (st.f_type != BPF_FS_MAGIC) {
		snprintf(
			msg, len,
			"%s is not on a BPF filesystem (bpffs), so %s can't hold pins; mount one (mount -t bpf bpf %s) or pass another --bpffs",
			where, root, where);
		return -ENOTDIR;
	}
	return 0;
}

int drv_bpffs_check(const char *root)
{
	char msg[3 * PATH_MAX + 256];
	int err = drv_bpffs_probe(root, msg, sizeof(msg));

	if (err)
		pr_warn("Error: %s\n", msg);
	return err;
}

/* The pin root opened for flock(): fd, or -errno (said). */
static int root_open(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		pr_warn("Error: can't open pin root %s to lock it: %s: %s\n", root, strerror(-err),
			drv_root_err_hint(err));
		return err;
	}
	return fd;
}

static int flock_holder(int fd);

/* "pid N (COMM)" of the process holding the flock() on @fd, or what to say without one. */
static const char *lock_holder_str(int fd, char *buf, size_t len)
{
	char path[32], comm[32] = "";
	int pid = flock_holder(fd);
	FILE *f;

	if (pid <= 0) {
		snprintf(buf, len, "a process whose pid is not visible here (another container?)");
		return buf;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	snprintf(buf, len, "pid %d%s%s%s", pid, comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
	return buf;
}

int drv_root_lock(const char *root)
{
	int fd = root_open(root), i, e;
	char who[96];

	if (fd < 0)
		return fd;
	/* Bounded wait: another drover may be changing maps right now. */
	for (i = 0; i < 3000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (!flock(fd, LOCK_EX | LOCK_NB))
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		/* after about a second, once: a wait of up to 30 s must not look like a hang */
		if (i == 100)
			pr_warn("Note: waiting for the lock on pin root %s, which %s holds (another drover command or the agent changing the maps); giving up after 30 s\n",
				root, lock_holder_str(fd, who, sizeof(who)));
		nanosleep(&ts, NULL);
	}
	e = errno;
	if (e == EWOULDBLOCK)
		pr_warn("Error: can't lock pin root %s: still locked after 30 s by %s; let it finish (or stop it) and retry\n",
			root, lock_holder_str(fd, who, sizeof(who)));
	else
		pr_warn("Error: can't lock pin root %s: %s; retry, and check --bpffs if it goes on\n",
			root, strerror(e));
	close(fd);
	return e == EWOULDBLOCK ? -EWOULDBLOCK : -e;
}

int drv_root_trylock(const char *root)
{
	int fd = root_open(root), err;

	if (fd < 0)
		return fd;
	if (!flock(fd, LOCK_EX | LOCK_NB))
		return fd;
	err = -errno;
	close(fd);
	return err;
}

static int pin_dir_make(const char *path, const char *what);

/*
 * The pid /proc/locks gives for the flock() on the inode of @fd, 0 if none
 * is listed (or its holder is in a pid namespace this one does not see).
 */
static int flock_holder(int fd)
{
	char line[256];
	struct stat st;
	int pid = 0, p;
	unsigned int maj, min;
	unsigned long long ino;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF"; blocked waiters have "->" */
	while (!pid && fgets(line, sizeof(line), f))
		if (strstr(line, " FLOCK ") && !strstr(line, "->") &&
		    sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%llu", &p, &maj, &min, &ino) == 4 &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pid = p;
	fclose(f);
	return pid;
}

int drv_agent_lock(const char *root)
{
	char dir[PATH_MAX + 32];
	struct stat a, b;
	int fd = -1, i, pid, err;

	err = pin_dir_make(root, "pin root ");
	if (err)
		return err;
	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_AGENT_LOCK);
	/*
	 * The lock directory an agent that exits removes may be the one just opened: again.
	 * A held lock fails flock() with EWOULDBLOCK, which is EAGAIN: only the loop running
	 * out says the directory kept going away.
	 */
	for (i = 0; i < 100; i++) {
		if (mkdir(dir, 0700) && errno != EEXIST) {
			err = -errno;
			pr_warn("Error: can't create the agent's lock %s: %s; check that the pin root is on a bpffs mounted read-write (--bpffs), and run the agent as root\n",
				dir, strerror(-err));
			return err;
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			err = -errno;
			pr_warn("Error: can't open the agent's lock %s: %s; retry, or remove it (rmdir %s) if no agent runs\n",
				dir, strerror(-err), dir);
			return err;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			err = -errno;
			if (err != -EWOULDBLOCK) {
				pr_warn("Error: can't lock %s: %s; retry, or remove it (rmdir %s) if no agent runs\n",
					dir, strerror(-err), dir);
				break;
			}
			pid = flock_holder(fd);
			if (pid > 0)
				pr_warn("Error: another drover agent (pid %d) runs on pin root %s (it holds %s): two would fight over every table; stop that one first (systemctl stop drover, or kill %d), or give this one its own pin root (--bpffs)\n",
					pid, root, dir, pid);
			else
				pr_warn("Error: another drover agent runs on pin root %s (it holds %s; its pid is not visible here: another container?): two would fight over every table; stop that one first, or give this one its own pin root (--bpffs)\n",
					root, dir);
			break;
		}
		if (!fstat(fd, &a) && !stat(dir, &b) && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return fd;
		close(fd); /* removed meanwhile by the agent that held it */
		fd = -1;
	}
	if (i == 100) {
		err = -EAGAIN;
		pr_warn("Error: can't lock %s: it keeps being removed and made again; retry\n",
			dir);
	}
	if (fd >= 0)
		close(fd);
	return err;
}

int drv_agent_pid(const char *root)
{
	char dir[PATH_MAX + 32];
	int fd, pid;

	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_AGENT_LOCK);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	pid = flock_holder(fd);
	close(fd);
	return pid > 0 ? pid : 0;
}

void drv_agent_unlock(const char *root, int fd)
{
	char dir[PATH_MAX + 32];
	int lock_fd;

	if (fd < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_AGENT_LOCK);
	rmdir(dir); /* while held: an agent that opened it meanwhile sees it gone */
	close(fd);
	/* nothing of drover left under root (nothing pinned, or all detached): no root either */
	lock_fd = drv_root_trylock(root);
	if (lock_fd >= 0) {
		rmdir(root); /* fails harmlessly when root is a mount point or not empty */
		close(lock_fd);
	}
}

static struct drover_bpf *skel_open(const char *root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = root);
	struct drover_bpf *skel;
	char buf[128];

	skel = drover_bpf__open_opts(&opts);
	if (!skel)
		pr_warn("Error: can't open the embedded XDP program: %s; free some memory and retry (with -vv libbpf says more)\n",
			errstr(-errno, buf, sizeof(buf)));
	return skel;
}

/*
 * A second load (another interface, when the first one's program can't be
 * fetched by id: that needs CAP_SYS_ADMIN) must share the pinned devmap, but
 * libbpf 1.1's pin-reuse check refuses it: the kernel reports a devmap with
 * BPF_F_RDONLY_PROG, which the object's definition lacks. Hand the pinned map
 * over directly instead. Nothing pinned yet (first attach): libbpf creates it.
 */
static void devmap_adopt(struct drover_bpf *skel, const char *root)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, DRV_STR(DRV_MAP_TX_PORTS));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	bpf_map__set_pin_path(skel->maps.drv_txports_v1, NULL);
	if (bpf_map__reuse_fd(skel->maps.drv_txports_v1, fd))
		pr_debug("can't reuse %s: %s\n", path, strerror(errno));
	close(fd); /* reuse_fd keeps its own duplicate */
}

static const char *map_type_str(__u32 t)
{
	const char *s = libbpf_bpf_map_type_str(t);

	return s ? s : "?";
}

int drv_map_pin_open(const char *path, bool quiet_missing)
{
	char fdp[32], kind[64];
	struct stat st;
	ssize_t n;
	const char *hint =
		"; check --bpffs (drover status), or detach every interface and attach again";
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT && quiet_missing)
			return err;
		/* bpffs answers EACCES for what is no BPF object: root gains nothing */
		if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
			pr_warn("Error: %s is a directory, not a pinned map: remove it (rmdir %s), or use another --bpffs\n",
				path, path);
			return err;
		}
		if ((err == -EPERM || err == -EACCES) && geteuid())
			hint = " (run as root)";
		else if (err == -EPERM || err == -EACCES)
			hint = " (denied to root too: a seccomp profile or a security module blocks bpf(2) here; allow bpf(2) to drover, see \"Running as a DaemonSet\" in drover's README)";
		pr_warn("Error: can't open pinned map %s: %s%s\n", path, strerror(-err), hint);
		return err;
	}
	/*
	 * Its info would be read as a map's whatever it is (a program's fills
	 * the same buffer), so ask the fd's kind first; without /proc, go on.
	 */
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
	n = readlink(fdp, kind, sizeof(kind) - 1);
	if (n > 0) {
		kind[n] = 0;
		if (strcmp(kind, "anon_inode:bpf-map")) {
			pr_warn("Error: %s is not a BPF map but a %s: something else pinned it under drover's name; remove it (rm %s), or use another --bpffs\n",
				path, strncmp(kind, "anon_inode:", 11) ? kind : kind + 11, path);
			close(fd);
			return -EPROTO;
		}
	}
	return fd;
}

/* More than the maps the program pins (11). */
#define PINNED_MAX 32

/* drv_maps_check, and with @ids (PINNED_MAX long) the ids of the *npinned maps found. */
static int maps_check(const char *root, int *npinned, int *nmaps, __u32 *ids)
{
	struct drover_bpf *skel;
	struct bpf_map *map;
	char path[PATH_MAX];
	int err = 0;

	*npinned = *nmaps = 0;
	skel = skel_open(root);
	if (!skel)
		return -EINVAL;
	bpf_object__for_each_map(map, skel->obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (!bpf_map__pin_path(map))
			continue;
		(*nmaps)++;
		snprintf(path, sizeof(path), "%s/%s", root, bpf_map__name(map));
		fd = drv_map_pin_open(path, true);
		if (fd == -ENOENT)
			continue;
		if (fd < 0) {
			err = fd;
			goto out;
		}
		err = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		if (err) {
			pr_warn("Error: %s is not a BPF map: %s; remove it (rm %s), or use another --bpffs\n",
				path, strerror(-err), path);
			err = -EPROTO;
			goto out;
		}
		if (ids && *npinned < PINNED_MAX)
			ids[*npinned] = info.id;
		(*npinned)++;
		if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		    info.value_size != bpf_map__value_size(map) ||
		    info.max_entries != bpf_map__max_entries(map)) {
			pr_warn("Error: pinned map %s was created by an incompatible drover (%s key %u value %u entries %u; this drover %s needs %s key %u value %u entries %u). Detach every interface of this pin root (drover detach IFNAME), remove %s, then attach again; or use another --bpffs\n",
				path, map_type_str(info.type), info.key_size, info.value_size,
				info.max_entries, DROVER_VERSION, map_type_str(bpf_map__type(map)),
				bpf_map__key_size(map), bpf_map__value_size(map),
				bpf_map__max_entries(map), path);
			err = -EPROTO;
			goto out;
		}
	}
out:
	drover_bpf__destroy(skel);
	return err;
}

int drv_maps_check(const char *root, int *npinned, int *nmaps)
{
	return maps_check(root, npinned, nmaps, NULL);
}

void drv_maps_unpin(const char *root)
{
	struct drover_bpf *skel;
	struct bpf_map *map;
	char path[PATH_MAX];

	skel = skel_open(root);
	if (!skel)
		return;
	bpf_object__for_each_map(map, skel->obj) {
		if (!bpf_map__pin_path(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, bpf_map__name(map));
		if (unlink(path) && errno != ENOENT)
			pr_warn("Warning: couldn't remove pin %s: %s; remove it by hand (rm %s)\n",
				path, strerror(errno), path);
	}
	drover_bpf__destroy(skel);
}

/* Link info of the pin at @path: 0, or -errno. */
static int link_info(const char *path, int *fdp, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);
	int fd, err;

	memset(info, 0, sizeof(*info));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, info, &len);
	if (err || info->type != BPF_LINK_TYPE_XDP) {
		close(fd);
		return err ? err : -EINVAL;
	}
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

/*
 * Is live XDP link @li on this network namespace's @ifname? Link info carries
 * an ifindex but no namespace, and a pin root can be shared by namespaces: the
 * program netlink (namespace-aware) reports on our device must match too.
 */
static bool link_here(const char *ifname, const struct bpf_link_info *li)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	unsigned int ifindex = if_nametoindex(ifname);

	if (!ifindex || ifindex != li->xdp.ifindex || bpf_xdp_query((int)ifindex, 0, &q))
		return false;
	return li->prog_id == q.drv_prog_id || li->prog_id == q.skb_prog_id;
}

/*
 * Is live XDP link @li, pinned as @ifname under @root, on a device of this
 * namespace that was renamed since? Its ifindex here must carry its program
 * under another name (written to @now, IF_NAMESIZE bytes), and no pin of that
 * name may hold a live link on the same ifindex: that would be the device's
 * own link, and @li one of another namespace's device with the same ifindex.
 */
static bool link_renamed(const char *root, const char *ifname, const struct bpf_link_info *li,
			 char *now)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char path[PATH_MAX + IF_NAMESIZE];
	struct bpf_link_info oli;

	if (!li->xdp.ifindex || !if_indextoname(li->xdp.ifindex, now) || !strcmp(now, ifname))
		return false;
	if (bpf_xdp_query((int)li->xdp.ifindex, 0, &q) ||
	    (li->prog_id != q.drv_prog_id && li->prog_id != q.skb_prog_id))
		return false;
	snprintf(path, sizeof(path), "%s/%s/%s", root, DRV_PIN_LINKS_DIR, now);
	return link_info(path, NULL, &oli) || oli.xdp.ifindex != li->xdp.ifindex;
}

int drv_prog_list(const char *root, struct drv_prog_iface *out, size_t max)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_LINKS_DIR);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && n < max) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		struct drv_prog_iface *it = &out[n];
		struct bpf_link_info info;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		memset(it, 0, sizeof(*it));
		if (strlen(de->d_name) >= sizeof(it->ifname))
			continue; /* not a pin of ours: interface names are < IFNAMSIZ */
		memcpy(it->ifname, de->d_name, strlen(de->d_name) + 1);
		if (!link_info(path, NULL, &info)) {
			it->link_id = info.id;
			it->prog_id = info.prog_id;
			it->ifindex = info.xdp.ifindex;
		}
		if (it->ifindex && !bpf_xdp_query(it->ifindex, 0, &q)) {
			if (q.drv_prog_id == it->prog_id)
				it->attach_mode = XDP_ATTACHED_DRV;
			else if (q.skb_prog_id == it->prog_id)
				it->attach_mode = XDP_ATTACHED_SKB;
		}
		if (it->attach_mode && !link_renamed(root, it->ifname, &info, it->renamed))
			it->renamed[0] = 0;
		n++;
	}
	closedir(d);
	return (int)n;
}

/* mkdir @path (0700) unless it exists; @what names it in the error. */
static int pin_dir_make(const char *path, const char *what)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		int err = -errno;

		pr_warn("Error: can't create %s%s: %s; check that it is on a bpffs mounted read-write (--bpffs), and run as root\n",
			what, path, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * This build's program is pinned at <root>/progs/drover_xdp-<build>, <build>
 * a hash of the BPF object embedded in this binary: an attach reuses it (one
 * program for every interface, no second verifier run, no CAP_SYS_ADMIN to
 * fetch it by id), and a drover of another build knows that the interfaces
 * run a program other than its own.
 */
static void prog_pin_path(const char *root, char *path, size_t len)
{
	static __u64 build;
	const void *elf;
	size_t sz;

	if (!build) {
		elf = drover_bpf__elf_bytes(&sz);
		build = drv_fnv1a(DRV_FNV_INIT, elf, sz);
	}
	snprintf(path, len, "%s/%s/drover_xdp-%016llx", root, DRV_PIN_PROGS_DIR,
		 (unsigned long long)build);
}

/* Remove the program pins of @root but @keep (NULL: all of them) and, with none kept, their directory. */
static void prog_pins_remove(const char *root, const char *keep)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_PROGS_DIR);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((!keep || strcmp(path, keep)) && unlink(path) && errno != ENOENT)
			pr_warn("Warning: can't remove program pin %s: %s; it keeps that program loaded: remove it by hand (rm %s)\n",
				path, strerror(errno), path);
	}
	closedir(d);
	if (!keep)
		rmdir(dir);
}

/* Remove every program pin of @root but this build's. */
static void prog_pins_keep_own(const char *root)
{
	char pin[PATH_MAX + 64];

	prog_pin_path(root, pin, sizeof(pin));
	prog_pins_remove(root, pin);
}

/*
 * Does program @fd use the @n maps pinned now, @ids (drover_xdp uses them
 * all)? Not when the maps were pinned anew after it was pinned: an older
 * drover, which does not know <root>/progs, detached the last interface and
 * attached again. That program's maps are pinned nowhere, and a link given it
 * would forward with tables that nothing updates.
 */
static bool prog_uses_pins(int fd, const __u32 *ids, int n)
{
	struct bpf_prog_info info = {};
	__u32 used[64], len = sizeof(info), i;
	int k;

	info.nr_map_ids = ARRAY_SIZE(used);
	info.map_ids = (__u64)(unsigned long)used;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.nr_map_ids > ARRAY_SIZE(used))
		return false;
	for (k = 0; k < n; k++) {
		for (i = 0; i < info.nr_map_ids && used[i] != ids[k]; i++)
			;
		if (i == info.nr_map_ids)
			return false;
	}
	return true;
}

/*
 * prog_load - this build's program: the pinned one (while it uses every map
 * pinned), or one loaded (and its maps pinned, or reused) and pinned now;
 * *@fresh says which. @npinned of the program's @nmaps maps are pinned, with
 * ids @ids (maps_check, under the pin root's lock).
 * Return: its fd, or -errno (said).
 */
static int prog_load(const char *root, int npinned, int nmaps, const __u32 *ids, bool *fresh)
{
	char path[PATH_MAX + 64], dir[PATH_MAX], buf[128];
	struct drover_bpf *skel;
	int fd, err;

	*fresh = false;
	/* A map gone from the pins (none pinned yet, or removed by hand): the program uses the old one. */
	if (npinned < nmaps)
		prog_pins_remove(root, NULL);
	prog_pin_path(root, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0 && prog_uses_pins(fd, ids, npinned < PINNED_MAX ? npinned : PINNED_MAX))
		return fd;
	if (fd >= 0) {
		/* Its maps were replaced (see prog_uses_pins): this one and any other build's go. */
		pr_info("the program pinned at %s runs on maps no longer pinned under %s: loading it again\n",
			path, root);
		close(fd);
		prog_pins_remove(root, NULL);
	}
	skel = skel_open(root);
	if (!skel)
		return -EINVAL;
	devmap_adopt(skel, root);
	err = drover_bpf__load(skel);
	if (err) {
		pr_warn("Error: can't load the XDP program and its maps under %s: %s (run with -vv for the verifier log)\n",
			root, errstr(err, buf, sizeof(buf)));
		drover_bpf__destroy(skel);
		return err;
	}
	fd = dup(bpf_program__fd(skel->progs.drover_xdp));
	drover_bpf__destroy(skel);
	if (fd < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_PROGS_DIR);
	err = pin_dir_make(dir, "");
	if (!err && (err = bpf_obj_pin(fd, path)))
		pr_warn("Error: can't pin the XDP program at %s: %s; check that the pin root is on a bpffs mounted read-write (--bpffs), and run as root\n",
			path, errstr(err, buf, sizeof(buf)));
	if (err) {
		close(fd);
		return err;
	}
	*fresh = true;
	return fd;
}

/* The id of program @fd, or 0. */
static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/*
 * links_swap - swap program @fd into every live link of @root that runs
 * another (atomically, per interface: no packet goes unprocessed, and the
 * maps stay as they are). The program array is the new program's already,
 * so a link left on an old program would tail-call a newer one.
 * Return: how many links could not be swapped (each said).
 */
static int links_swap(const char *root, int fd)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], buf[128];
	__u32 id = prog_id(fd);
	struct bpf_link_info li;
	struct dirent *de;
	int lfd, err, failed = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_LINKS_DIR);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (link_info(path, &lfd, &li))
			continue;
		if (li.xdp.ifindex && li.prog_id != id) {
			err = bpf_link_update(lfd, fd, NULL);
			if (err) {
				failed++;
				pr_warn("Error: can't swap this drover's XDP program into the link of %s (pinned at %s): %s; it still runs program %u: attach it again (drover attach %s force)\n",
					de->d_name, path, errstr(err, buf, sizeof(buf)), li.prog_id,
					de->d_name);
			} else {
				pr_info("%s now runs this drover's XDP program (id %u, was %u); maps kept\n",
					de->d_name, id, li.prog_id);
			}
		}
		close(lfd);
	}
	closedir(d);
	return failed;
}

__u32 drv_prog_build(const char *root, char *pin, size_t len)
{
	int fd;
	__u32 id;

	prog_pin_path(root, pin, len);
	fd = bpf_obj_get(pin);
	if (fd < 0)
		return 0;
	id = prog_id(fd);
	close(fd);
	return id;
}

int drv_prog_upgrade(const char *root)
{
	struct drv_prog_iface ifs[1];
	int lock_fd, fd, err, npinned, nmaps;
	__u32 ids[PINNED_MAX];
	bool fresh;

	if (access(root, F_OK) && errno == ENOENT)
		return 0; /* nothing pinned, nothing attached */
	lock_fd = drv_root_trylock(root);
	if (lock_fd < 0)
		return lock_fd;
	err = drv_prog_list(root, ifs, 1);
	if (err < 0)
		pr_warn("Error: can't list the links pinned under %s/%s: %s; run as root, and check --bpffs\n",
			root, DRV_PIN_LINKS_DIR, strerror(-err));
	if (err <= 0)
		goto out;
	err = maps_check(root, &npinned, &nmaps, ids);
	if (err)
		goto out;
	fd = prog_load(root, npinned, nmaps, ids, &fresh);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	err = links_swap(root, fd) ? -EIO : 0;
	close(fd);
	if (!err && fresh)
		prog_pins_keep_own(root);
out:
	close(lock_fd);
	return err;
}

/*
 * xdp_link_id - the XDP bpf_link that holds program @prog_id on our @ifindex
 * Link info carries an ifindex but no network namespace, so a link of another
 * namespace can show the same ifindex: it must also run the program that
 * netlink (namespace-aware) reports on our device.
 * Return: link id; 0 if none (netlink-attached); -1 if several match
 * (ambiguous); -EPERM if links can't be listed (that takes CAP_SYS_ADMIN).
 */
static long xdp_link_id(int ifindex, __u32 prog_id)
{
	__u32 id = 0;
	long found = 0;

	if (!prog_id)
		return 0;
	if (bpf_link_get_next_id(0, &id))
		return errno == EPERM ? -EPERM : 0;
	for (id = 0; !bpf_link_get_next_id(id, &id);) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
		    info.xdp.ifindex == (__u32)ifindex && info.prog_id == prog_id)
			found = found ? -1 : (long)id;
		close(fd);
	}
	return found;
}

/* Remove the XDP program(s) on @ifindex: bpf_links by BPF_LINK_DETACH, others by netlink. */
static int xdp_remove(const char *ifname, int ifindex, const struct bpf_xdp_query_opts *q)
{
	__u32 pids[2] = { q->drv_prog_id, q->skb_prog_id };
	__u32 flags[2] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	char buf[128];
	int i, fd, err;
	long lid;

	for (i = 0; i < 2; i++) {
		if (!pids[i])
			continue;
		lid = xdp_link_id(ifindex, pids[i]);
		if (lid == -EPERM) {
			pr_warn("Error: can't tell whether a bpf_link holds XDP program %u on %s: listing links takes CAP_SYS_ADMIN; remove it with the tool that attached it (ip link set dev %s xdp off if it was attached through netlink), or run this with CAP_SYS_ADMIN\n",
				pids[i], ifname, ifname);
			return -EPERM;
		}
		if (lid < 0) {
			pr_warn("Error: can't tell which bpf_link holds XDP program %u on %s (same program and ifindex in another namespace); detach it with the tool that attached it\n",
				pids[i], ifname);
			return -EBUSY;
		}
		if (!lid) {
			err = bpf_xdp_detach(ifindex, flags[i], NULL);
		} else {
			fd = bpf_link_get_fd_by_id((__u32)lid);
			err = fd < 0 ? -errno : bpf_link_detach(fd);
			if (fd >= 0)
				close(fd);
		}
		if (err) {
			pr_warn("Error: can't remove XDP program %u from %s: %s; take it off by hand (ip link set dev %s xdp off) and attach again\n",
				pids[i], ifname, errstr(err, buf, sizeof(buf)), ifname);
			return err;
		}
		pr_info("removed XDP program %u from %s\n", pids[i], ifname);
	}
	return 0;
}

const char *drv_xdp_mode_str(enum drv_xdp_mode mode)
{
	return mode == DRV_XDP_SKB ? "skb" : "native";
}

const char *drv_xdp_attach_mode_str(__u8 m)
{
	switch (m) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "skb";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multiple";
	default:
		return "none";
	}
}

static void prog_name(__u32 id, char *name, size_t len)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(name, len, "?");
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(name, len, "%s", info.name);
	close(fd);
}

/*
 * The id of drover's XDP program (bpf/drover.bpf.c's drover_xdp, by name) on @ifname in this
 * network namespace; 0 when it runs another or none, or the name can't be read.
 */
static __u32 xdp_drover_prog(const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	unsigned int ifindex = if_nametoindex(ifname);
	char name[BPF_OBJ_NAME_LEN];
	__u32 id;

	if (!ifindex || bpf_xdp_query((int)ifindex, 0, &q) || q.attach_mode == XDP_ATTACHED_NONE)
		return 0;
	id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id);
	prog_name(id, name, sizeof(name));
	return strcmp(name, "drover_xdp") ? 0 : id;
}

/*
 * Detach found no link of @ifname under @root (@why @path): when drover runs on it all the same,
 * it was attached with another --bpffs, which is what to fix, not the interface.
 */
static void detach_not_here_warn(const char *root, const char *ifname, const char *why,
				 const char *path)
{
	__u32 id = xdp_drover_prog(ifname);

	if (id)
		pr_warn("Error: %s runs drover's XDP program (id %u), but not under pin root %s (%s %s): it was attached with another --bpffs; give that one (drover --bpffs ROOT detach %s; an agent's ROOT is the --bpffs it runs with)\n",
			ifname, id, root, why, path, ifname);
	else
		pr_warn("Error: %s is not attached by drover: %s %s (see drover status, or pass the --bpffs it was attached with)\n",
			ifname, why, path);
}

static int pin_links_make(const char *root)
{
	char links[PATH_MAX];

	snprintf(links, sizeof(links), "%s/%s", root, DRV_PIN_LINKS_DIR);
	return pin_dir_make(links, "");
}

static void pin_dirs_remove(const char *root)
{
	char links[PATH_MAX];

	prog_pins_remove(root, NULL);

	snprintf(links, sizeof(links), "%s/%s", root, DRV_PIN_LINKS_DIR);
	rmdir(links);
	rmdir(root); /* fails harmlessly when root is a mount point or not empty */
}

/*
 * The program's FIB lookups need forwarding on the ingress device. Warn when it
 * is off for both families; when one family forwards, the other is probably
 * unused on purpose: mention it at -v only.
 */
static void forwarding_warn(const char *ifname)
{
	int v4 = drv_net_conf("ipv4", ifname, "forwarding"),
	    v6 = drv_net_conf("ipv6", ifname, "forwarding");

	/* IPv6 needs all.forwarding too: the kernel's forwarding (fib_pass) checks only that. */
	if (v6 == 1 && drv_fwd_state("ipv6", ifname) == DRV_FWD_OFF_ALL)
		v6 = 0;
	if (v4 == 0 && v6 != 1)
		pr_warn("Warning: ipv4 forwarding is off on %s, so drover can't forward packets that arrive on it (drop_fib); enable it: sysctl -w net.ipv4.conf.%s.forwarding=1 (and net.ipv6.conf.all.forwarding=1 for IPv6)\n",
			ifname, ifname);
	else if (v4 == 0)
		pr_info("ipv4 forwarding is off on %s: IPv4 services can't forward from it\n",
			ifname);
	else if (v6 == 0)
		pr_info("ipv6 forwarding is off on %s (or in net.ipv6.conf.all.forwarding): IPv6 services can't forward from it\n",
			ifname);
}

/*
 * A nat (or tunnel) packet whose next hop has no neighbour entry yet goes to
 * the kernel already rewritten (fib_pass), with the SNAT address, a local one,
 * as its source. IPv4 drops it as a martian unless accept_local is on for the
 * device it arrived on, and strict reverse-path filtering (rp_filter 1) drops
 * it too, as the SNAT address is not on that device; loose (2) lets it
 * through. With both right, the kernel forwards the packet and resolves the
 * neighbour, and the next packets take the fast path again. The same holds
 * for an IPv4 packet without DF too long for the egress, left to the kernel
 * to fragment (lib/toobig.h), and for as long as the path stays narrow. IPv6 has no such
 * checks. Set them over rtnetlink (CAP_NET_ADMIN is enough, /proc/sys may be
 * read-only in a container), or say what is lost when that fails.
 */
static void fib_pass_prepare(const char *ifname, int ifindex)
{
	int ids[2], n = 0, al = drv_net_conf("ipv4", ifname, "accept_local");
	int rpf_all = drv_net_conf("ipv4", "all", "rp_filter"),
	    rpf = drv_net_conf("ipv4", ifname, "rp_filter");
	__u32 vals[2];

	if (al < 0)
		return; /* no IPv4 on this device */
	if (al != 1) {
		ids[n] = IPV4_DEVCONF_ACCEPT_LOCAL;
		vals[n++] = 1;
	}
	/* The kernel applies the larger of "all" and the device's value. */
	if (rpf == 1 && rpf_all != 1) {
		ids[n] = IPV4_DEVCONF_RP_FILTER;
		vals[n++] = 2;
	}
	if (rpf_all == 1)
		pr_warn("Warning: net.ipv4.conf.all.rp_filter is 1 (strict): the IPv4 nat packets drover hands the kernel (fib_pass: a node whose MAC address it does not know yet, a packet without DF to fragment) are dropped, and nothing resolves the address; make it loose: sysctl -w net.ipv4.conf.all.rp_filter=2\n");
	if (!n)
		return;
	if (drv_devconf_set(ifindex, ids, vals, n)) {
		pr_warn("Warning: can't set accept_local=1 and loose rp_filter on %s: the IPv4 nat packets drover hands the kernel (fib_pass: a node whose MAC address it does not know yet, a packet without DF to fragment) are dropped as martians, and nothing resolves the address; set them: sysctl -w net/ipv4/conf/%s/accept_local=1 (and net/ipv4/conf/%s/rp_filter=2 if it is 1)\n",
			ifname, ifname, ifname);
		return;
	}
	pr_warn("Note: %s: set%s%s so nat packets left to the kernel (fib_pass) are forwarded; they stay after detach\n",
		ifname, al != 1 ? " accept_local=1" : "",
		rpf == 1 && rpf_all != 1 ? " rp_filter=2" : "");
}

/* Add (@add) or remove @ifindex in the pinned drv_txports, the redirect targets. */
static int txport_set(const char *root, __u32 ifindex, bool add)
{
	char path[PATH_MAX];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", root, DRV_STR(DRV_MAP_TX_PORTS));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (add ? bpf_map_update_elem(fd, &ifindex, &ifindex, BPF_ANY) :
		  bpf_map_delete_elem(fd, &ifindex))
		err = -errno;
	close(fd);
	return err;
}

/* A new XDP bpf_link of @prog_fd on @ifindex in @mode: its fd, or -errno. */
static int link_make(int prog_fd, int ifindex, enum drv_xdp_mode mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, o);

	o.flags = mode == DRV_XDP_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	return bpf_link_create(prog_fd, ifindex, BPF_XDP, &o);
}

/* The kernel refused to attach in @mode: say why it likely did, and what to do. */
static void attach_refused(const char *ifname, enum drv_xdp_mode mode, int err)
{
	char buf[128];

	if (mode == DRV_XDP_NATIVE && err == -EOPNOTSUPP)
		pr_warn("Error: %s does not support native XDP (its driver has none, or refuses it while an offload such as LRO is on: ethtool -k %s); use `mode skb` (generic XDP, slower)\n",
			ifname, ifname);
	else if (mode == DRV_XDP_NATIVE && (err == -ERANGE || err == -EINVAL))
		pr_warn("Error: the driver of %s refused native XDP (%s): most often its MTU (or its veth peer's) is too large for XDP; lower it (ip link set dev %s mtu 1500) or use `mode skb`\n",
			ifname, errstr(err, buf, sizeof(buf)), ifname);
	else
		pr_warn("Error: can't attach the XDP program to %s in %s mode: %s; run with -v for the kernel's reason%s\n",
			ifname, drv_xdp_mode_str(mode), errstr(err, buf, sizeof(buf)),
			mode == DRV_XDP_NATIVE ? ", or try `mode skb` (generic XDP, slower)" : "");
}

/*
 * A forced mode change was refused after drover's old link came off: put a
 * link in the old @mode back (pinned at @path), or say the device has none.
 */
static void relink(const char *root, const char *path, int prog_fd, int ifindex, const char *ifname,
		   enum drv_xdp_mode mode)
{
	int fd = link_make(prog_fd, ifindex, mode);

	if (fd >= 0 && !bpf_obj_pin(fd, path)) {
		pr_warn("Note: %s: drover is attached again in %s mode, as before\n", ifname,
			drv_xdp_mode_str(mode));
		close(fd);
		return;
	}
	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	txport_set(root, (__u32)ifindex, false);
	pr_warn("Error: %s now runs no XDP program: attaching drover back in %s mode failed too; attach it again (drover attach %s mode %s)\n",
		ifname, drv_xdp_mode_str(mode), ifname, drv_xdp_mode_str(mode));
}

int drv_prog_attach_flags(const char *root, const char *ifname, enum drv_xdp_mode mode,
			  unsigned int flags)
{
	bool force = flags & DRV_ATTACH_F_FORCE, trylock = flags & DRV_ATTACH_F_TRYLOCK;
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char path[PATH_MAX], buf[128];
	int ifindex, lock_fd, err, npinned, nmaps, prog_fd = -1, link_fd = -1, own_fd = -1;
	enum drv_xdp_mode own_mode = mode;
	bool created = false, replaced = false; /* replaced: drover's own link was there */
	bool fresh;
	__u32 removed_id = 0, ids[PINNED_MAX];
	struct stat st;

	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		pr_warn("Error: interface '%s' does not exist in this network namespace; check the name with `ip link show`, and attach an interface of another namespace (a container's) from inside it (ip netns exec NS drover attach %s, or nsenter -n)\n",
			ifname, ifname);
		return -ENODEV;
	}
	err = drv_caps_check("drover attach");
	if (err)
		return err;
	err = drv_bpffs_check(root);
	if (err)
		return err;
	err = pin_dir_make(root, "pin root ");
	if (err)
		return err;
	lock_fd = trylock ? drv_root_trylock(root) : drv_root_lock(root);
	if (lock_fd < 0)
		return lock_fd;
	err = maps_check(root, &npinned, &nmaps, ids);
	if (err)
		goto out_unlock;
	created = npinned == 0;

	snprintf(path, sizeof(path), "%s/%s/%s", root, DRV_PIN_LINKS_DIR, ifname);
	err = bpf_xdp_query(ifindex, 0, &q);
	if (err) {
		pr_warn("Error: can't query XDP state of %s: %s; check the interface (ip link show %s) and retry\n",
			ifname, errstr(err, buf, sizeof(buf)), ifname);
		goto out_unlock;
	}
	if (q.attach_mode != XDP_ATTACHED_NONE) {
		struct bpf_link_info li;
		__u32 id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id);
		bool own = !link_info(path, &own_fd, &li) && link_here(ifname, &li);
		char name[32];

		if (!own && own_fd >= 0) {
			close(own_fd);
			own_fd = -1;
		}

		if (!force) {
			if (own)
				pr_warn("Error: %s is already attached by drover (link pinned at %s, %s mode); detach it first (drover detach %s) or attach again (drover attach %s mode %s force)\n",
					ifname, path, drv_xdp_attach_mode_str(q.attach_mode),
					ifname, ifname, drv_xdp_mode_str(mode));
			else {
				long lid = xdp_link_id(ifindex, id);

				prog_name(id, name, sizeof(name));
				if (lid == -EPERM)
					pr_warn("Error: interface %s already has XDP program %u (%s mode) attached; remove it with the tool that attached it (ip link set dev %s xdp off if that was netlink; a bpf_link can't be looked up without CAP_SYS_ADMIN) or replace it (drover attach %s mode %s force)\n",
						ifname, id, drv_xdp_attach_mode_str(q.attach_mode),
						ifname, ifname, drv_xdp_mode_str(mode));
				else if (lid > 0)
					pr_warn("Error: interface %s already has XDP program '%s' (id %u, %s mode) attached through bpf_link %ld; detach it with the tool that attached it (another drover: drover --bpffs ITS_ROOT detach %s) or replace it (drover attach %s mode %s force)\n",
						ifname, name, id,
						drv_xdp_attach_mode_str(q.attach_mode), lid, ifname,
						ifname, drv_xdp_mode_str(mode));
				else
					pr_warn("Error: interface %s already has XDP program '%s' (id %u, %s mode) attached; remove it (ip link set dev %s xdp off) or replace it (drover attach %s mode %s force)\n",
						ifname, name, id,
						drv_xdp_attach_mode_str(q.attach_mode), ifname,
						ifname, drv_xdp_mode_str(mode));
			}
			err = own ? -EEXIST : -EBUSY;
			goto out_unlock;
		}
		if (own) {
			/* swapped in place, or (a mode change) replaced once loaded: below */
			own_mode = q.attach_mode == XDP_ATTACHED_SKB ? DRV_XDP_SKB : DRV_XDP_NATIVE;
		} else {
			pr_info("force: replacing the XDP program (id %u) on %s\n", id, ifname);
			err = xdp_remove(ifname, ifindex, &q);
			if (err)
				goto out_unlock;
			removed_id = id;
		}
	}
	if (own_fd < 0 && !lstat(path, &st)) {
		struct bpf_link_info li;
		char now[IF_NAMESIZE];
		bool has_link = !link_info(path, NULL, &li);

		if (has_link && !force && link_renamed(root, ifname, &li, now)) {
			pr_warn("Error: %s holds drover's XDP link on %s (ifindex %u), as %s was renamed since; take drover off %s first (drover detach %s), or add `force` to do so and attach %s\n",
				path, now, li.xdp.ifindex, ifname, now, ifname, ifname);
			err = -EEXIST;
			goto out_unlock;
		}
		/* Our device has no XDP, so a live link under this name is on another
		 * namespace's device: the pin root is shared. Unpinning would detach it.
		 */
		if (has_link && li.xdp.ifindex && !force) {
			pr_warn("Error: %s holds a live XDP link (ifindex %u) that is not on this namespace's %s: the pin root is used from another network namespace; use another --bpffs, or add `force` to replace the pin\n",
				path, li.xdp.ifindex, ifname);
			err = -EEXIST;
			goto out_unlock;
		}
		unlink(path); /* a stale pin: its interface went away or its XDP was replaced */
	}

	prog_fd = prog_load(root, npinned, nmaps, ids, &fresh);
	if (prog_fd < 0) {
		err = prog_fd;
		goto out_unlock;
	}
	/* Loaded now: a drover of another build attached the other interfaces, or none is. */
	if (fresh) {
		links_swap(root, prog_fd);
		prog_pins_keep_own(root);
	}

	err = pin_links_make(root);
	if (err)
		goto out_close_prog;
	if (own_fd >= 0 && own_mode == mode) {
		/* drover's own link in this mode: swap the program in place, no gap */
		err = bpf_link_update(own_fd, prog_fd, NULL);
		if (err) {
			pr_warn("Error: can't update drover's XDP link on %s (pinned at %s): %s; it keeps the program it runs: detach it (drover detach %s) and attach again\n",
				ifname, path, errstr(err, buf, sizeof(buf)), ifname);
			goto out_close_prog;
		}
		link_fd = own_fd;
		own_fd = -1;
		replaced = true;
		pr_info("force: drover's XDP link on %s updated in place\n", ifname);
	} else {
		if (own_fd >= 0) {
			/*
			 * A mode change: native and generic XDP can't be on one
			 * device at once, so the old link goes first (through its
			 * pin: no CAP_SYS_ADMIN needed) and comes back if the new
			 * one is refused.
			 */
			err = bpf_link_detach(own_fd);
			if (err) {
				pr_warn("Error: can't detach drover's %s-mode XDP link from %s: %s; it stays in that mode: detach it (drover detach %s), then attach in the new one\n",
					drv_xdp_mode_str(own_mode), ifname,
					errstr(err, buf, sizeof(buf)), ifname);
				goto out_close_prog;
			}
			if (unlink(path) && errno != ENOENT)
				pr_warn("Warning: can't remove the old link pin %s: %s; remove it by hand (rm %s), then attach again\n",
					path, strerror(errno), path);
			replaced = true;
			pr_info("force: detached drover's %s-mode link from %s\n",
				drv_xdp_mode_str(own_mode), ifname);
		}
		link_fd = link_make(prog_fd, ifindex, mode);
		if (link_fd < 0) {
			err = link_fd;
			link_fd = -1;
			attach_refused(ifname, mode, err);
		} else if ((err = bpf_obj_pin(link_fd, path))) {
			pr_warn("Error: can't pin the XDP link of %s at %s: %s; check that the pin root is on a bpffs mounted read-write (--bpffs), then attach again\n",
				ifname, path, errstr(err, buf, sizeof(buf)));
			bpf_link_detach(link_fd);
		}
		/* no new link: what `force` took off comes back, or is said to be gone */
		if (err) {
			if (own_fd >= 0)
				relink(root, path, prog_fd, ifindex, ifname, own_mode);
			else if (removed_id)
				pr_warn("Error: %s now runs no XDP program: the one it had (id %u) was removed by `force`; load that one again, or attach drover once the cause above is fixed (drover attach %s force)\n",
					ifname, removed_id, ifname);
			goto out_close_link;
		}
	}

	/* Two-arm NAT redirects into any attached interface through drv_txports. */
	err = txport_set(root, (__u32)ifindex, true);
	if (err && replaced) {
		/* drover's own link before: its entry is there already; keep the link */
		pr_warn("Warning: can't refresh %s in %s/%s: %s; the interface keeps its entry, which is right unless its ifindex changed: if nat replies stop, detach it and attach again\n",
			ifname, root, DRV_STR(DRV_MAP_TX_PORTS), errstr(err, buf, sizeof(buf)));
		err = 0;
	} else if (err) {
		pr_warn("Error: can't add %s to %s/%s: %s; nothing was attached: retry the attach\n",
			ifname, root, DRV_STR(DRV_MAP_TX_PORTS), errstr(err, buf, sizeof(buf)));
		bpf_link_detach(link_fd);
		unlink(path);
		goto out_close_link;
	}
	if (!(flags & DRV_ATTACH_F_NO_FWD_WARN))
		forwarding_warn(ifname);
	fib_pass_prepare(ifname, ifindex);
	pr_info("attached drover to %s (%s mode), link pinned at %s\n", ifname,
		drv_xdp_mode_str(mode), path);
	created = false;
	err = 0;
out_close_link:
	close(link_fd);
out_close_prog:
	close(prog_fd);
out_unlock:
	if (own_fd >= 0)
		close(own_fd);
	if (err && created) {
		/* we created the pins in this call and failed: leave nothing behind */
		struct drv_prog_iface ifs[1];

		if (drv_prog_list(root, ifs, 1) == 0) {
			drv_maps_unpin(root);
			pin_dirs_remove(root);
		}
	}
	close(lock_fd);
	return err;
}

int drv_prog_attach(const char *root, const char *ifname, enum drv_xdp_mode mode, bool force)
{
	return drv_prog_attach_flags(root, ifname, mode, force ? DRV_ATTACH_F_FORCE : 0);
}

/* drv_prog_detach_opts(); with @trylock, -EWOULDBLOCK (unsaid) while the pin root is locked. */
static int prog_detach(const char *root, const char *ifname, bool keep_maps, bool trylock)
{
	struct drv_prog_iface ifs[1];
	char path[PATH_MAX], buf[128], now[IF_NAMESIZE];
	struct bpf_link_info info;
	int lock_fd, fd = -1, err;
	struct stat st;

	err = drv_caps_check("drover detach");
	if (err)
		return err;
	if (stat(root, &st)) {
		detach_not_here_warn(root, ifname, "no drover pin root", root);
		return -ENOENT;
	}
	lock_fd = trylock ? drv_root_trylock(root) : drv_root_lock(root);
	if (lock_fd < 0)
		return lock_fd;
	snprintf(path, sizeof(path), "%s/%s/%s", root, DRV_PIN_LINKS_DIR, ifname);
	err = link_info(path, &fd, &info);
	if (err) {
		if (lstat(path, &st)) {
			detach_not_here_warn(root, ifname, "no link pin", path);
			err = -ENOENT;
			goto out_unlock;
		}
		pr_warn("Note: removing %s: not a usable XDP link pin (%s)\n", path,
			errstr(err, buf, sizeof(buf)));
	} else if (link_renamed(root, ifname, &info, now)) {
		/* drover's link on this namespace's device, renamed since the attach */
		err = bpf_link_detach(fd);
		close(fd);
		if (err) {
			pr_warn("Error: can't detach the XDP link pinned at %s from %s (%s renamed): %s; retry, or take XDP off by hand (ip link set dev %s xdp off) and remove the pin (rm %s)\n",
				path, now, ifname, errstr(err, buf, sizeof(buf)), now, path);
			goto out_unlock;
		}
		txport_set(root, info.xdp.ifindex, false);
		pr_warn("Note: %s was renamed %s (ifindex %u): drover is detached from %s\n",
			ifname, now, info.xdp.ifindex, now);
	} else if (info.xdp.ifindex && !link_here(ifname, &info)) {
		/* Unpinning or detaching it would stop that interface's forwarding. */
		pr_warn("Error: %s is the live XDP link of an interface %s (ifindex %u) in another network namespace that shares this pin root; nothing was changed: run the detach in that namespace (ip netns exec NS drover detach %s, or nsenter)\n",
			path, ifname, info.xdp.ifindex, ifname);
		close(fd);
		err = -EXDEV;
		goto out_unlock;
	} else {
		err = bpf_link_detach(fd);
		if (err && err != -ENOLINK && err != -EINVAL)
			pr_warn("Warning: couldn't detach the XDP link of %s: %s; its pin is removed all the same: if drover still runs there (ip link show %s), take it off by hand (ip link set dev %s xdp off)\n",
				ifname, errstr(err, buf, sizeof(buf)), ifname, ifname);
		close(fd);
		if (info.xdp.ifindex)
			txport_set(root, info.xdp.ifindex, false);
	}
	if (unlink(path)) {
		err = -errno;
		pr_warn("Error: can't remove link pin %s: %s; drover was detached from the interface: remove the pin by hand (rm %s)\n",
			path, strerror(errno), path);
		goto out_unlock;
	}
	err = 0;
	pr_info("detached drover from %s\n", ifname);
	if (!keep_maps && drv_prog_list(root, ifs, 1) == 0) {
		drv_maps_unpin(root);
		pin_dirs_remove(root);
		pr_info("last interface detached: removed the maps pinned under %s\n", root);
	}
out_unlock:
	close(lock_fd);
	return err;
}

int drv_prog_detach_opts(const char *root, const char *ifname, bool keep_maps)
{
	return prog_detach(root, ifname, keep_maps, false);
}

int drv_prog_detach(const char *root, const char *ifname)
{
	return prog_detach(root, ifname, false, false);
}

int drv_prog_detach_try(const char *root, const char *ifname)
{
	return prog_detach(root, ifname, false, true);
}

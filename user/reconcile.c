// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "reconcile.h"

void drv_svc_key_make(const struct drv_service_conf *s, __u16 port, struct drv_svc_key *key)
{
	memset(key, 0, sizeof(*key));
	key->vip = s->vip;
	key->port = htons(port);
	key->proto = 6; /* IPPROTO_TCP */
	key->family = s->family;
}

/* Is @l the address of a node of @s? */
static bool leaver_is_node(const struct drv_service_conf *s, const struct drv_leaver *l)
{
	size_t j;

	for (j = 0; j < s->nnodes; j++)
		if (s->nodes[j].family == l->family &&
		    !memcmp(&s->nodes[j].addr, &l->addr, sizeof(l->addr)))
			return true;
	return false;
}

int drv_want_build(const struct drv_config *cfg, bool *const *up, bool *const *hold,
		   const struct drv_leavers *leave, struct drv_want *out)
{
	size_t i, j, total = 0, k = 0;
	unsigned int p;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < cfg->nservices; i++)
		total += cfg->services[i].nports;
	out->svcs = calloc(total ? total : 1, sizeof(*out->svcs));
	if (!out->svcs)
		return -ENOMEM;
	for (i = 0; i < cfg->nservices; i++) {
		const struct drv_service_conf *s = &cfg->services[i];
		bool any_up = false, any_active = false;

		for (j = 0; j < s->nnodes; j++) {
			if (s->nodes[j].drain)
				continue;
			any_active = true;
			if (up[i][j])
				any_up = true;
		}
		for (p = 0; p < s->nports; p++) {
			struct drv_want_svc *w = &out->svcs[k++];

			out->n = k;
			w->cfg_idx = i;
			w->port = s->ports[p];
			w->all_down = any_active && !any_up;
			drv_svc_key_make(s, s->ports[p], &w->conf.key);
			w->conf.mode = s->mode;
			w->conf.table_size = s->table_size;
			w->conf.snat = s->snat;
			w->conf.snat_port_lo = s->snat_port_lo;
			w->conf.snat_port_hi = s->snat_port_hi;
			w->nbes = s->nnodes;
			w->bes = calloc(s->nnodes + (leave ? leave[i].n : 0) + 1, sizeof(*w->bes));
			if (!w->bes) {
				drv_want_free(out);
				return -ENOMEM;
			}
			for (j = 0; j < s->nnodes; j++) {
				const struct drv_node_conf *n = &s->nodes[j];
				struct drv_be_conf *b = &w->bes[j];
				__u8 out_state = hold && hold[i][j] ? DRV_BE_FAILING : DRV_BE_DOWN;

				b->addr = n->addr;
				b->family = n->family;
				b->port = htons(s->ports[p]);
				/*
				 * A drained node keeps its flows while it passes its
				 * checks; failing them, it is out like any other (its
				 * flows held, then re-hashed), unless the service
				 * fails open.
				 */
				if (n->drain && (up[i][j] || w->all_down)) {
					b->state = DRV_BE_DRAIN;
					b->weight = 0;
				} else if (n->drain) {
					b->state = out_state;
					b->weight = 0;
				} else if (up[i][j] || w->all_down) {
					b->state = DRV_BE_UP;
					b->weight = n->weight;
				} else {
					b->state = out_state;
					b->weight = n->weight;
				}
			}
			for (j = 0; leave && j < leave[i].n; j++) {
				const struct drv_leaver *l = &leave[i].v[j];
				struct drv_be_conf *b = &w->bes[w->nbes];

				if (leaver_is_node(s, l))
					continue;
				b->addr = l->addr;
				b->family = l->family;
				b->port = htons(s->ports[p]);
				b->state = l->down ? DRV_BE_DOWN : DRV_BE_LEAVING;
				b->weight = 0;
				w->nbes++;
			}
		}
	}
	return 0;
}

void drv_want_free(struct drv_want *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->svcs[i].bes);
	free(w->svcs);
	w->svcs = NULL;
	w->n = 0;
}

int drv_want_copy(const struct drv_want *src, struct drv_want *dst)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->svcs = calloc(src->n ? src->n : 1, sizeof(*dst->svcs));
	if (!dst->svcs)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		dst->svcs[i] = src->svcs[i];
		dst->svcs[i].bes = NULL;
		dst->n = i + 1;
		if (src->svcs[i].nbes) {
			dst->svcs[i].bes = calloc(src->svcs[i].nbes, sizeof(*dst->svcs[i].bes));
			if (!dst->svcs[i].bes) {
				drv_want_free(dst);
				return -ENOMEM;
			}
			memcpy(dst->svcs[i].bes, src->svcs[i].bes,
			       src->svcs[i].nbes * sizeof(*dst->svcs[i].bes));
		}
	}
	return 0;
}

static bool key_equal(const struct drv_svc_key *a, const struct drv_svc_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

bool drv_want_svc_equal(const struct drv_want_svc *a, const struct drv_want_svc *b)
{
	const struct drv_svc_conf *x = &a->conf, *y = &b->conf;

	if (a->unknown || b->unknown)
		return false;
	if (!key_equal(&x->key, &y->key) || x->mode != y->mode || x->table_size != y->table_size ||
	    memcmp(&x->snat, &y->snat, sizeof(x->snat)) || x->snat_port_lo != y->snat_port_lo ||
	    x->snat_port_hi != y->snat_port_hi)
		return false;
	if (a->nbes != b->nbes)
		return false;
	return !a->nbes || !memcmp(a->bes, b->bes, a->nbes * sizeof(*a->bes));
}

static const struct drv_want_svc *find_key(const struct drv_want *w, const struct drv_svc_key *k)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (key_equal(&w->svcs[i].conf.key, k))
			return &w->svcs[i];
	return NULL;
}

int drv_plan_make(const struct drv_want *applied, const struct drv_want *next,
		  struct drv_plan *plan)
{
	size_t i;

	plan->n = 0;
	plan->steps = calloc(applied->n + next->n + 1, sizeof(*plan->steps));
	if (!plan->steps)
		return -ENOMEM;
	for (i = 0; i < applied->n; i++) {
		if (find_key(next, &applied->svcs[i].conf.key))
			continue;
		plan->steps[plan->n++] = (struct drv_plan_step){
			.op = DRV_PLAN_DEL,
			.key = applied->svcs[i].conf.key,
			.idx = i,
		};
	}
	for (i = 0; i < next->n; i++) {
		const struct drv_want_svc *old = find_key(applied, &next->svcs[i].conf.key);

		if (old && drv_want_svc_equal(old, &next->svcs[i]))
			continue;
		plan->steps[plan->n++] = (struct drv_plan_step){
			.op = DRV_PLAN_SYNC,
			.key = next->svcs[i].conf.key,
			.idx = i,
		};
	}
	return 0;
}

void drv_plan_free(struct drv_plan *plan)
{
	free(plan->steps);
	plan->steps = NULL;
	plan->n = 0;
}

int drv_plan_run(const struct drv_plan *plan, const struct drv_plan_ops *ops, void *arg)
{
	int *err = calloc(plan->n ? plan->n : 1, sizeof(*err));
	size_t i, pending = 0, before;
	int failed = 0, e;

	for (i = 0; i < plan->n; i++) {
		e = ops->run(&plan->steps[i], arg);
		if (e == -ENOSPC && err) {
			err[i] = e;
			pending++;
			continue;
		}
		ops->done(&plan->steps[i], e, arg);
		failed += e != 0;
	}
	/* A step that gets through may shrink its service too, freeing ids for another. */
	while (pending) {
		before = pending;
		for (i = 0; i < plan->n; i++) {
			if (err[i] != -ENOSPC)
				continue;
			err[i] = ops->run(&plan->steps[i], arg);
			if (err[i] == -ENOSPC)
				continue;
			pending--;
			ops->done(&plan->steps[i], err[i], arg);
			failed += err[i] != 0;
		}
		if (pending == before)
			break;
	}
	for (i = 0; pending && i < plan->n; i++) {
		if (err[i] != -ENOSPC)
			continue;
		ops->done(&plan->steps[i], err[i], arg);
		failed++;
	}
	free(err);
	return failed;
}

bool drv_node_is_backend(const struct drv_node_conf *n, __be16 port, const struct drv_backend *be)
{
	return be->family == n->family && be->port == port &&
	       !memcmp(&be->addr, &n->addr, sizeof(n->addr));
}

void drv_nodes_find_backends(const struct drv_service_conf *s, __u16 port,
			     const struct drv_be_info *bes, int nbes, int *idx)
{
	size_t j;
	int k;

	for (j = 0; j < s->nnodes; j++) {
		idx[j] = -1;
		for (k = 0; k < nbes; k++)
			if (drv_node_is_backend(&s->nodes[j], htons(port), &bes[k].be)) {
				idx[j] = k;
				break;
			}
	}
}

/*
 * store_asg.c — facts out: the decision input of one ASG (struct decide_input)
 * read from the fact rows: its head by the head rule (design §1), the commits
 * pushed since its pin, and the AMIs its account sees with the tags it sees
 * them with. See store_facts.h.
 *
 * Only the AMIs of the commits a decision needs are loaded (index
 * ami_tags_by_lvalue), so the cost does not grow with history. The result owns
 * copies of every string it points to.
 */
#include "store_facts.h"
#include "store_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the decision input of one ASG --------------------------------------------------- */

struct store_asg_facts {
	struct decide_input in;
	struct decide_asg asg;
	struct decide_tag *statics;
	struct decide_commit head;
	struct decide_commit *pushed;
	struct decide_ami *amis;
	struct decide_tag *tags;       /* all AMIs' tags, in one array */
	struct decide_pin pin;
	int64_t head_event;
	char head_received_at[32];
	char head_source[16];          /* "gitlab" (a push) or "gitlab-api" (GitLab's branch API) */
	bool observed;                 /* GitLab's branch API was ever asked about the branch */
	struct store_source_check gitlab_check;
	int64_t pin_promotion;
	char pin_promoted_at[32];
	struct store_asg_state state;
	const struct decide_ami *pin_ami;
	struct decide_ami pin_ami_store;
	const char *pin_owner;         /* the pinned AMI's owner account, NULL when unknown */
	const char **blocked;          /* the blocked commits (decide_input.blocked) … */
	struct store_blocked *blocked_rows; /* … with their reasons */
	char **strings;                /* everything the pointers above point to */
	size_t n_strings;
};

static const char *keep(struct store_asg_facts *f, const unsigned char *text)
{
	char **grown;
	char *copy;

	if (text == NULL)
		return NULL;
	grown = realloc(f->strings, (f->n_strings + 1) * sizeof *grown);
	if (grown == NULL)
		return NULL;
	f->strings = grown;
	copy = strdup((const char *)text);
	if (copy != NULL)
		f->strings[f->n_strings++] = copy;
	return copy;
}

void store_asg_facts_free(struct store_asg_facts **pf)
{
	struct store_asg_facts *f;

	if (pf == NULL || *pf == NULL)
		return;
	f = *pf;
	for (size_t i = 0; i < f->n_strings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->statics);
	free(f->pushed);
	free(f->amis);
	free(f->tags);
	free(f->blocked);
	free(f->blocked_rows);
	free(f);
	*pf = NULL;
}

const struct decide_input *store_asg_facts_input(const struct store_asg_facts *f) { return &f->in; }
int64_t store_asg_facts_head_event(const struct store_asg_facts *f) { return f->head_event; }
const char *store_asg_facts_head_received_at(const struct store_asg_facts *f) { return f->head_received_at; }
const char *store_asg_facts_head_source(const struct store_asg_facts *f) { return f->head_source; }
const struct store_source_check *store_asg_facts_gitlab_check(const struct store_asg_facts *f)
{
	return &f->gitlab_check;
}
void store_asg_facts_set_unconfirmed(struct store_asg_facts *f, bool unconfirmed) { f->in.head_unconfirmed = unconfirmed; }
int64_t store_asg_facts_pin_promotion(const struct store_asg_facts *f) { return f->pin_promotion; }
const char *store_asg_facts_pin_promoted_at(const struct store_asg_facts *f) { return f->pin_promoted_at; }
const struct decide_ami *store_asg_facts_pin_ami(const struct store_asg_facts *f) { return f->pin_ami; }
const char *store_asg_facts_pin_owner(const struct store_asg_facts *f) { return f->pin_owner; }
const struct store_asg_state *store_asg_facts_state(const struct store_asg_facts *f) { return &f->state; }
const struct store_blocked *store_asg_facts_blocked(const struct store_asg_facts *f, size_t *n)
{
	*n = f->in.n_blocked;
	return f->blocked_rows;
}

/*
 * The push rule (design §1) over the pushes of one branch received after a
 * given time, as a graph: commits are nodes, a push before → after is an edge
 * (a branch deletion goes to the all-zeros commit, a re-creation leaves it).
 * A push is superseded when a push leaves its after. The head is the after of
 * the newest push that is not superseded, or that lies inside a cycle nothing
 * leaves (a force-push back, A→B then B→A; a branch deleted and re-created at
 * an older commit, A→B→0→A): such a cycle stands for the branch as its most
 * recently received push left it. A push that merely leads into a cycle, or
 * into a chain that goes on (a late or re-sent old push), is superseded.
 *
 * The graph is read only as far as the head needs: pushes newest first (one
 * index probe each, as a plain "is anything pushed after it?" would: a
 * linear history costs one probe), and only for a superseded push newer than
 * every head candidate the commits reachable from its after, to learn whether
 * it closes a cycle — memoised for the whole walk and bounded by
 * HEAD_MAX_EXPLORED commits per walk, so a push re-sent from long ago costs at
 * most that many probes, never the branch's whole history. A cycle that does
 * not close within the bound is not recognised as one: its pushes count as
 * superseded, and when nothing else counts the newest push wins. (The
 * reconciler's branch observations, §9, settle what the bound leaves open.)
 */
#define HEAD_MAX_EXPLORED 256

enum node_state {
	NODE_UNKNOWN,
	NODE_END,        /* nothing was pushed from it */
	NODE_PASSED,     /* pushes from it lead on, to commits that never lead back */
	NODE_CYCLE,      /* in a cycle that nothing leaves (cycle: which one) */
};

struct push_node {
	char *commit;
	enum node_state state;
	int cycle;
	bool expanded;
	unsigned walk;                 /* the node_settle walk that last reached it, at seen[pos] */
	size_t pos;
	size_t first_out, n_out;       /* its successors: edges[first_out .. first_out + n_out) */
};

struct push_graph {
	struct store *st;
	const char *repo, *branch, *after;
	bool deletions;                /* deletions and re-creations are edges */
	struct push_node *nodes;
	size_t n_nodes, cap_nodes;
	size_t *edges;                 /* node indexes */
	size_t n_edges, cap_edges;
	size_t *slots;                 /* open addressing: node index + 1, 0 empty */
	size_t n_slots;
	size_t explored;               /* commits expanded while looking for cycles */
	unsigned walks;
	int n_cycles;
};

static void push_graph_clear(struct push_graph *g)
{
	for (size_t i = 0; i < g->n_nodes; i++)
		free(g->nodes[i].commit);
	free(g->nodes);
	free(g->edges);
	free(g->slots);
}

static size_t commit_hash(const char *s)
{
	size_t h = 1469598103934665603u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

static enum amicd_rc graph_nomem(struct amicd_error *err)
{
	return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
}

/* The node of commit in *idx; SIZE_MAX when absent and !add. */
static enum amicd_rc node_find(struct push_graph *g, const char *commit, bool add, size_t *idx,
			       struct amicd_error *err)
{
	size_t mask, at;

	*idx = SIZE_MAX;
	if (add && 2 * (g->n_nodes + 1) > g->n_slots) {
		size_t n_slots = g->n_slots > 0 ? g->n_slots * 2 : 64;
		size_t *slots = calloc(n_slots, sizeof *slots);

		if (slots == NULL)
			return graph_nomem(err);
		for (size_t i = 0; i < g->n_nodes; i++) {
			for (at = commit_hash(g->nodes[i].commit) & (n_slots - 1); slots[at] != 0; at = (at + 1) & (n_slots - 1))
				;
			slots[at] = i + 1;
		}
		free(g->slots);
		g->slots = slots;
		g->n_slots = n_slots;
	}
	if (g->n_slots == 0)
		return AMICD_OK;
	mask = g->n_slots - 1;
	for (at = commit_hash(commit) & mask; g->slots[at] != 0; at = (at + 1) & mask)
		if (strcmp(g->nodes[g->slots[at] - 1].commit, commit) == 0) {
			*idx = g->slots[at] - 1;
			return AMICD_OK;
		}
	if (!add)
		return AMICD_OK;
	if (g->n_nodes == g->cap_nodes) {
		size_t cap = g->cap_nodes > 0 ? g->cap_nodes * 2 : 32;
		struct push_node *grown = realloc(g->nodes, cap * sizeof *grown);

		if (grown == NULL)
			return graph_nomem(err);
		g->nodes = grown;
		g->cap_nodes = cap;
	}
	memset(&g->nodes[g->n_nodes], 0, sizeof g->nodes[0]);
	g->nodes[g->n_nodes].commit = strdup(commit);
	if (g->nodes[g->n_nodes].commit == NULL)
		return graph_nomem(err);
	g->slots[at] = g->n_nodes + 1;
	*idx = g->n_nodes++;
	return AMICD_OK;
}

/* Read the pushes from node idx's commit (once): its successors; NODE_END when there are none. */
static enum amicd_rc node_expand(struct push_graph *g, size_t idx, struct amicd_error *err)
{
	/* no DISTINCT: it would make SQLite walk the branch in after_sha order (pushes_by_after) */
	static const char *const sql =
		"SELECT q.after_sha FROM pushes q WHERE q.repo = ?1 AND q.branch = ?2 AND q.before_sha = ?3"
		" AND q.after_sha <> ?3 AND (?5 OR q.deleted = 0)"
		" AND (SELECT received_at FROM events WHERE id = q.event_id) > ?4";
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;
	size_t first = g->n_edges;
	int src;

	if (g->nodes[idx].expanded)
		return AMICD_OK;
	s = store_prep(g->st, sql, err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, g->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, g->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, g->nodes[idx].commit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, g->after, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, g->deletions);
	while (rc == AMICD_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		size_t to;
		bool again = false;

		rc = node_find(g, (const char *)sqlite3_column_text(s, 0), true, &to, err);
		for (size_t e = first; rc == AMICD_OK && e < g->n_edges && !again; e++)
			again = g->edges[e] == to; /* the same push from two hooks: one edge */
		if (again)
			continue;
		if (rc == AMICD_OK && g->n_edges == g->cap_edges) {
			size_t cap = g->cap_edges > 0 ? g->cap_edges * 2 : 32;
			size_t *grown = realloc(g->edges, cap * sizeof *grown);

			if (grown == NULL)
				rc = graph_nomem(err);
			else {
				g->edges = grown;
				g->cap_edges = cap;
			}
		}
		if (rc == AMICD_OK)
			g->edges[g->n_edges++] = to;
	}
	if (rc == AMICD_OK && src != SQLITE_DONE)
		rc = store_db_error(g->st, err, "load the pushes from a commit");
	store_release(s);
	if (rc != AMICD_OK)
		return rc;
	g->nodes[idx].expanded = true;
	g->nodes[idx].first_out = first;
	g->nodes[idx].n_out = g->n_edges - first;
	if (g->nodes[idx].n_out == 0)
		g->nodes[idx].state = NODE_END;
	return AMICD_OK;
}

/*
 * Settle the state of node start (expanded, with successors, state unknown):
 * NODE_CYCLE when every commit reachable from it leads back to it (the
 * reachable commits are then one cycle nothing leaves), else NODE_PASSED.
 * Left unknown when that takes more than HEAD_MAX_EXPLORED commits.
 */
static enum amicd_rc node_settle(struct push_graph *g, size_t start, struct amicd_error *err)
{
	size_t *seen = NULL, n_seen = 0;
	bool *back = NULL, passed = false, changed = true;
	unsigned walk;
	enum amicd_rc rc = AMICD_OK;

	seen = malloc(HEAD_MAX_EXPLORED * sizeof *seen);
	if (seen == NULL)
		return graph_nomem(err);
	walk = ++g->walks;
	g->nodes[start].walk = walk;
	g->nodes[start].pos = 0;
	seen[n_seen++] = start;
	/* breadth first over what start reaches; a commit already settled, or one nothing
	 * was pushed from, means start is not in a closed cycle */
	for (size_t i = 0; i < n_seen && !passed; i++) {
		const struct push_node *x;

		if (g->explored >= HEAD_MAX_EXPLORED)
			goto out; /* unknown: too far to tell */
		g->explored++;
		rc = node_expand(g, seen[i], err);
		if (rc != AMICD_OK)
			goto out;
		x = &g->nodes[seen[i]];
		if (x->state != NODE_UNKNOWN) {
			passed = true;
			break;
		}
		for (size_t e = 0; e < x->n_out; e++) {
			struct push_node *y = &g->nodes[g->edges[x->first_out + e]];

			if (y->walk == walk)
				continue;
			if (n_seen == HEAD_MAX_EXPLORED)
				goto out;
			y->walk = walk;
			y->pos = n_seen;
			seen[n_seen++] = g->edges[x->first_out + e];
		}
	}
	if (passed) {
		g->nodes[start].state = NODE_PASSED;
		goto out;
	}
	/* everything reachable is known: which of it leads back to start? */
	back = calloc(n_seen, sizeof *back);
	if (back == NULL) {
		rc = graph_nomem(err);
		goto out;
	}
	back[0] = true;
	while (changed) {
		changed = false;
		for (size_t i = n_seen; i-- > 1;) {
			const struct push_node *x = &g->nodes[seen[i]];

			for (size_t e = 0; e < x->n_out && !back[i]; e++)
				if (back[g->nodes[g->edges[x->first_out + e]].pos]) {
					back[i] = true;
					changed = true;
				}
		}
	}
	for (size_t i = 0; i < n_seen && !passed; i++)
		passed = !back[i];
	if (passed) {
		g->nodes[start].state = NODE_PASSED;
		goto out;
	}
	g->n_cycles++;
	for (size_t i = 0; i < n_seen; i++) {
		g->nodes[seen[i]].state = NODE_CYCLE;
		g->nodes[seen[i]].cycle = g->n_cycles;
	}
out:
	free(back);
	free(seen);
	return rc;
}

/* Whether the push before → after is the head's candidate: nothing leaves after, or it lies in a closed cycle. */
static enum amicd_rc push_counts(struct push_graph *g, const char *before, const char *after, bool *counts,
				 struct amicd_error *err)
{
	size_t a, b;
	enum amicd_rc rc = node_find(g, after, true, &a, err);

	*counts = false;
	if (rc == AMICD_OK)
		rc = node_expand(g, a, err);
	if (rc == AMICD_OK && g->nodes[a].state == NODE_UNKNOWN)
		rc = node_settle(g, a, err);
	if (rc != AMICD_OK)
		return rc;
	if (g->nodes[a].state == NODE_END) {
		*counts = true;
		return AMICD_OK;
	}
	if (g->nodes[a].state != NODE_CYCLE)
		return AMICD_OK;
	rc = node_find(g, before, false, &b, err);
	*counts = rc == AMICD_OK && b != SIZE_MAX && g->nodes[b].cycle == g->nodes[a].cycle;
	return rc;
}

struct head_pick {
	bool found;
	bool deleted;
	int64_t event_id;
	char commit[72];
	char received_at[32];
};

/* The newest push (received after `after`) that counts for the head, in g's graph. */
static enum amicd_rc newest_counting(struct push_graph *g, struct head_pick *pick, struct amicd_error *err)
{
	static const char *const sql =
		"SELECT p.before_sha, p.after_sha, p.deleted, p.event_id, e.received_at FROM pushes p"
		" JOIN events e ON e.id = p.event_id WHERE p.repo = ?1 AND p.branch = ?2 AND (?4 OR p.deleted = 0)"
		" AND e.received_at > ?3 ORDER BY p.event_id DESC";
	sqlite3_stmt *s = store_prep(g->st, sql, err);
	enum amicd_rc rc = AMICD_OK;
	bool counts = false;
	int src;

	memset(pick, 0, sizeof *pick);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, g->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, g->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, g->after, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, g->deletions);
	while (!counts && (src = sqlite3_step(s)) == SQLITE_ROW) {
		rc = push_counts(g, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
				 &counts, err);
		if (rc != AMICD_OK)
			break;
		if (counts) {
			pick->found = true;
			snprintf(pick->commit, sizeof pick->commit, "%s", sqlite3_column_text(s, 1));
			pick->deleted = sqlite3_column_int(s, 2) != 0;
			pick->event_id = sqlite3_column_int64(s, 3);
			snprintf(pick->received_at, sizeof pick->received_at, "%s", sqlite3_column_text(s, 4));
		}
	}
	if (rc == AMICD_OK && !counts && src != SQLITE_DONE)
		rc = store_db_error(g->st, err, "load head");
	store_release(s);
	return rc;
}

/* The newest push (received after `after`) that left the branch at commit; pick->found false when none. */
static enum amicd_rc newest_to(struct push_graph *g, const char *commit, struct head_pick *pick, struct amicd_error *err)
{
	static const char *const sql =
		"SELECT p.event_id, e.received_at FROM pushes p JOIN events e ON e.id = p.event_id"
		" WHERE p.repo = ?1 AND p.branch = ?2 AND p.after_sha = ?3 AND e.received_at > ?4"
		" ORDER BY p.event_id DESC LIMIT 1";
	sqlite3_stmt *s = store_prep(g->st, sql, err);
	int src;

	memset(pick, 0, sizeof *pick);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, g->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, g->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, g->after, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		pick->found = true;
		snprintf(pick->commit, sizeof pick->commit, "%s", commit);
		pick->event_id = sqlite3_column_int64(s, 0);
		snprintf(pick->received_at, sizeof pick->received_at, "%s", sqlite3_column_text(s, 1));
	}
	store_release(s);
	return src == SQLITE_ROW || src == SQLITE_DONE ? AMICD_OK : store_db_error(g->st, err, "load head");
}

/* The newest push that is not a deletion (received after `after`). */
static enum amicd_rc newest_push(struct push_graph *g, struct head_pick *pick, struct amicd_error *err)
{
	static const char *const sql =
		"SELECT p.after_sha, p.event_id, e.received_at FROM pushes p JOIN events e ON e.id = p.event_id"
		" WHERE p.repo = ?1 AND p.branch = ?2 AND p.deleted = 0 AND e.received_at > ?3"
		" ORDER BY p.event_id DESC LIMIT 1";
	sqlite3_stmt *s = store_prep(g->st, sql, err);
	int src;

	memset(pick, 0, sizeof *pick);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, g->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, g->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, g->after, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		pick->found = true;
		snprintf(pick->commit, sizeof pick->commit, "%s", sqlite3_column_text(s, 0));
		pick->event_id = sqlite3_column_int64(s, 1);
		snprintf(pick->received_at, sizeof pick->received_at, "%s", sqlite3_column_text(s, 2));
	}
	store_release(s);
	return src == SQLITE_ROW || src == SQLITE_DONE ? AMICD_OK : store_db_error(g->st, err, "load head");
}

/*
 * The head by the push rule over the pushes of repo/branch received after
 * `after` (a received_at text; "" for every push): the newest push that counts
 * (see struct push_graph). When that is a branch deletion, the branch is gone
 * and the head stays where it was: the commit the deletion was made at, as
 * the newest push to it left it; or, for a deletion of a commit no push led
 * to, the rule over the pushes without deletions. Nothing is set when no push
 * counts.
 */
static enum amicd_rc push_rule(struct store *st, struct store_asg_facts *f, const char *repo, const char *branch,
			       const char *after, struct amicd_error *err)
{
	struct push_graph g = { .st = st, .repo = repo, .branch = branch, .after = after, .deletions = true };
	struct head_pick pick;
	char gone_at[72] = "";
	enum amicd_rc rc = newest_counting(&g, &pick, err);

	if (rc == AMICD_OK && pick.found && pick.deleted) {
		sqlite3_stmt *s = store_prep(st, "SELECT before_sha FROM pushes WHERE event_id = ?1", err);

		if (s == NULL)
			rc = AMICD_ERR_STORE;
		else {
			sqlite3_bind_int64(s, 1, pick.event_id);
			if (sqlite3_step(s) == SQLITE_ROW)
				snprintf(gone_at, sizeof gone_at, "%s", sqlite3_column_text(s, 0));
			store_release(s);
		}
		if (rc == AMICD_OK)
			rc = newest_to(&g, gone_at, &pick, err);
		if (rc == AMICD_OK && !pick.found) {
			push_graph_clear(&g);
			g = (struct push_graph){ .st = st, .repo = repo, .branch = branch, .after = after };
			rc = newest_counting(&g, &pick, err);
		}
	}
	if (rc == AMICD_OK && !pick.found && g.explored >= HEAD_MAX_EXPLORED)
		rc = newest_push(&g, &pick, err); /* cycles too long to tell apart: the newest push */
	push_graph_clear(&g);
	if (rc != AMICD_OK || !pick.found)
		return rc;
	f->head.commit = keep(f, (const unsigned char *)pick.commit);
	if (f->head.commit == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	f->head.event_id = pick.event_id;
	f->head_event = pick.event_id;
	snprintf(f->head_received_at, sizeof f->head_received_at, "%s", pick.received_at);
	snprintf(f->head_source, sizeof f->head_source, "gitlab");
	f->in.head = &f->head;
	return AMICD_OK;
}

/*
 * The head (design §1): where GitLab's branch API was asked, its newest answer
 * wins over every push stored before that answer's request was sent; the push
 * rule decides among the pushes stored after it, and alone where GitLab was
 * never asked. A "branch gone" answer leaves the head to the pushes (as a
 * deletion push does). Also reads how the branch question's source last did.
 */
static enum amicd_rc load_head(struct store *st, struct store_asg_facts *f, const char *repo, const char *branch,
			       struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "SELECT event_id, commit_sha, asked_at FROM branch_observations"
				   " WHERE repo = ?1 AND branch = ?2 ORDER BY asked_at DESC, event_id DESC LIMIT 1", err);
	char asked_at[32] = "", question[STORE_QUESTION_MAX];
	const char *observed = NULL;
	int64_t observed_event = 0;
	enum amicd_rc rc;
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		observed_event = sqlite3_column_int64(s, 0);
		observed = keep(f, sqlite3_column_text(s, 1));
		snprintf(asked_at, sizeof asked_at, "%s", sqlite3_column_text(s, 2));
	}
	store_release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "load branch observation");
	f->observed = src == SQLITE_ROW;
	rc = push_rule(st, f, repo, branch, asked_at, err);
	if (rc == AMICD_OK && f->in.head == NULL && observed != NULL) {
		f->head.commit = observed;
		f->head.event_id = observed_event;
		f->head_event = observed_event;
		snprintf(f->head_received_at, sizeof f->head_received_at, "%s", asked_at);
		snprintf(f->head_source, sizeof f->head_source, "gitlab-api");
		f->in.head = &f->head;
	}
	if (rc == AMICD_OK && f->in.head == NULL && asked_at[0] != '\0')
		rc = push_rule(st, f, repo, branch, "", err); /* the branch is gone: the head stays */
	if (rc != AMICD_OK)
		return rc;
	store_question_branch(question, sizeof question, repo, branch);
	return store_source_check_read(st, question, &f->gitlab_check, err);
}

/* Add commit (once) to the pushed list with its push order (first push) and last push. */
static enum amicd_rc add_pushed(struct store *st, struct store_asg_facts *f, const char *repo, const char *branch,
				const char *commit, size_t *cap, struct amicd_error *err)
{
	sqlite3_stmt *s;
	struct decide_commit *c;
	int src;

	if (commit == NULL)
		return AMICD_OK;
	for (size_t i = 0; i < f->in.n_pushed; i++)
		if (strcmp(f->pushed[i].commit, commit) == 0)
			return AMICD_OK;
	/* two scalar subqueries: each is one index probe (min/max optimisation),
	 * where min() and max() together would read every push of the commit. A
	 * deletion's after is all zeros, so a real commit needs no deleted filter. */
	s = store_prep(st, "SELECT (SELECT min(event_id) FROM pushes WHERE repo = ?1 AND branch = ?2 AND after_sha = ?3),"
		     " (SELECT max(event_id) FROM pushes WHERE repo = ?1 AND branch = ?2 AND after_sha = ?3)", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, commit, -1, SQLITE_TRANSIENT);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		store_release(s);
		return store_db_error(st, err, "load a commit's pushes");
	}
	if (sqlite3_column_type(s, 0) == SQLITE_NULL) { /* never pushed */
		store_release(s);
		return AMICD_OK;
	}
	if (f->in.n_pushed == *cap) {
		struct decide_commit *grown;

		*cap = *cap > 0 ? *cap * 2 : 8;
		grown = realloc(f->pushed, *cap * sizeof *grown);
		if (grown == NULL) {
			store_release(s);
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		}
		f->pushed = grown;
	}
	c = &f->pushed[f->in.n_pushed++];
	c->commit = keep(f, (const unsigned char *)commit);
	c->order = sqlite3_column_int64(s, 0);
	c->event_id = sqlite3_column_int64(s, 1);
	store_release(s);
	return c->commit != NULL ? AMICD_OK : amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
}

static int by_order(const void *a, const void *b)
{
	const struct decide_commit *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

/*
 * The pushed commits the decision engine needs — the pin's, the head's, the configured
 * commit, and for policy latest every commit pushed after the pin — each with
 * its push order, found by index: the cost does not grow with the branch's
 * history.
 */
static enum amicd_rc load_pushed(struct store *st, struct store_asg_facts *f, const struct config_asg *asg,
				 struct amicd_error *err)
{
	const char *repo = asg->git->url, *branch = asg->git->ref;
	size_t cap = 0;
	enum amicd_rc rc;
	int64_t pin_order = 0;

	rc = add_pushed(st, f, repo, branch, f->in.pin != NULL ? f->pin.commit : NULL, &cap, err);
	if (rc == AMICD_OK)
		rc = add_pushed(st, f, repo, branch, f->in.head != NULL ? f->head.commit : NULL, &cap, err);
	if (rc == AMICD_OK)
		rc = add_pushed(st, f, repo, branch, f->asg.ref_commit, &cap, err);
	if (rc != AMICD_OK)
		return rc;
	if (f->in.pin != NULL && f->in.n_pushed > 0 && strcmp(f->pushed[0].commit, f->pin.commit) == 0)
		pin_order = f->pushed[0].order;
	if (f->asg.policy == DECIDE_LATEST && f->asg.ref_commit == NULL) {
		sqlite3_stmt *s = store_prep(st, "SELECT DISTINCT after_sha FROM pushes WHERE repo = ?1 AND branch = ?2"
					   " AND event_id > ?3 AND deleted = 0", err);
		char **found = NULL;
		size_t n = 0;
		int src;

		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, pin_order);
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			char **grown = realloc(found, (n + 1) * sizeof *found);

			if (grown == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			found = grown;
			found[n] = strdup((const char *)sqlite3_column_text(s, 0));
			if (found[n] == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			n++;
		}
		store_release(s);
		if (src != SQLITE_DONE)
			rc = store_db_error(st, err, "load recent pushes");
		for (size_t i = 0; i < n; i++) {
			if (rc == AMICD_OK)
				rc = add_pushed(st, f, repo, branch, found[i], &cap, err);
			free(found[i]);
		}
		free(found);
		if (rc != AMICD_OK)
			return rc;
	}
	if (f->in.n_pushed > 0)
		qsort(f->pushed, f->in.n_pushed, sizeof *f->pushed, by_order);
	for (size_t i = 0; i < f->in.n_pushed; i++)
		if (f->in.head != NULL && strcmp(f->pushed[i].commit, f->head.commit) == 0)
			f->head.order = f->pushed[i].order;
	f->in.pushed = f->pushed;
	return AMICD_OK;
}

/* A list of strings (image ids, commits) without repeats; NULL entries are skipped. */
struct strset {
	const char **items;
	size_t n, cap;
};

static bool strset_add(struct strset *set, const char *v, bool ignore_case)
{
	if (v == NULL)
		return true;
	for (size_t i = 0; i < set->n; i++)
		if ((ignore_case ? strcasecmp(set->items[i], v) : strcmp(set->items[i], v)) == 0)
			return true;
	if (set->n == set->cap) {
		size_t cap = set->cap > 0 ? set->cap * 2 : 16;
		const char **grown = realloc(set->items, cap * sizeof *grown);

		if (grown == NULL)
			return false;
		set->items = grown;
		set->cap = cap;
	}
	set->items[set->n++] = v;
	return true;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Load one AMI of region as account uid sees it (its tags too) into f; nothing
 * when unknown. orgs: the organization and OU ARNs the account's config lists,
 * as ",arn,arn," ("," when none).
 */
static enum amicd_rc load_ami(struct store *st, struct store_asg_facts *f, const char *region, const char *uid,
			      const char *orgs, const char *image, size_t *cap, size_t *tag_cap, size_t *n_tags, size_t **tag_start,
			      struct amicd_error *err)
{
	/* shares that count for the account: its id, "all", and the organizations and OUs its
	 * config lists (?4: ",arn,arn,"); org shares it does not list are named apart */
	sqlite3_stmt *s = store_prep(st,
		"SELECT a.image_id, a.state, a.owner, a.created_ms, a.first_event, coalesce(a.state_event, 0),"
		" (SELECT count(*) FROM ami_shares h WHERE h.region = a.region AND h.image_id = a.image_id"
		"   AND (h.account IN (?2, 'all') OR instr(?4, ',' || h.account || ',') > 0) AND h.shared = 1),"
		" (SELECT coalesce(max(h.event_id), 0) FROM ami_shares h WHERE h.region = a.region"
		"   AND h.image_id = a.image_id AND (h.account IN (?2, 'all') OR instr(?4, ',' || h.account || ',') > 0)),"
		" (SELECT coalesce(max(t.event_id), 0) FROM ami_tags t WHERE t.region = a.region"
		"   AND t.image_id = a.image_id AND t.account = ?2),"
		" (SELECT group_concat(h.account, ' ') FROM (SELECT account FROM ami_shares h WHERE h.region = a.region"
		"   AND h.image_id = a.image_id AND h.shared = 1 AND h.account LIKE 'arn:%'"
		"   AND instr(?4, ',' || h.account || ',') = 0 ORDER BY account) h)"
		" FROM amis a WHERE a.region = ?1 AND a.image_id = ?3", err);
	sqlite3_stmt *tags = store_prep(st, "SELECT key, value FROM ami_tags WHERE region = ?1 AND image_id = ?2"
				      " AND account = ?3 AND value IS NOT NULL ORDER BY key", err);
	struct decide_ami *a;
	const char *owner;
	int64_t last;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (s == NULL || tags == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, orgs, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		store_release(s);
		return src == SQLITE_DONE ? AMICD_OK : store_db_error(st, err, "load AMIs");
	}
	if (f->in.n_amis == *cap) {
		size_t grown_cap = *cap > 0 ? *cap * 2 : 8;
		struct decide_ami *grown = realloc(f->amis, grown_cap * sizeof *grown);
		size_t *grown_start = realloc(*tag_start, grown_cap * sizeof *grown_start);

		if (grown != NULL)
			f->amis = grown;
		if (grown_start != NULL)
			*tag_start = grown_start;
		if (grown == NULL || grown_start == NULL) {
			store_release(s);
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		}
		*cap = grown_cap;
	}
	a = &f->amis[f->in.n_amis];
	memset(a, 0, sizeof *a);
	owner = (const char *)sqlite3_column_text(s, 2);
	a->image_id = keep(f, sqlite3_column_text(s, 0));
	if (f->in.pin != NULL && f->pin.image_id != NULL && strcmp(image, f->pin.image_id) == 0)
		f->pin_owner = keep(f, (const unsigned char *)owner);
	a->state = keep(f, sqlite3_column_text(s, 1));
	a->owner = keep(f, (const unsigned char *)owner);
	a->unlisted_orgs = keep(f, sqlite3_column_text(s, 9));
	a->visible = (owner != NULL && strcmp(owner, uid) == 0) || sqlite3_column_int(s, 6) > 0;
	a->created_ms = sqlite3_column_int64(s, 3);
	a->first_seen = sqlite3_column_int64(s, 4);
	last = sqlite3_column_int64(s, 5);
	if (sqlite3_column_int64(s, 7) > last)
		last = sqlite3_column_int64(s, 7);
	if (sqlite3_column_int64(s, 8) > last)
		last = sqlite3_column_int64(s, 8);
	a->last_event_id = last;
	store_release(s);
	(*tag_start)[f->in.n_amis] = *n_tags;
	sqlite3_bind_text(tags, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(tags, 2, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(tags, 3, uid, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(tags)) == SQLITE_ROW) {
		if (*n_tags == *tag_cap) {
			size_t grown_cap = *tag_cap > 0 ? *tag_cap * 2 : 16;
			struct decide_tag *grown = realloc(f->tags, grown_cap * sizeof *grown);

			if (grown == NULL) {
				rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
				break;
			}
			f->tags = grown;
			*tag_cap = grown_cap;
		}
		f->tags[*n_tags].key = keep(f, sqlite3_column_text(tags, 0));
		f->tags[*n_tags].value = keep(f, sqlite3_column_text(tags, 1));
		(*n_tags)++;
	}
	if (rc == AMICD_OK && src != SQLITE_DONE)
		rc = store_db_error(st, err, "load AMI tags");
	store_release(tags);
	if (rc != AMICD_OK)
		return rc;
	a->n_tags = *n_tags - (*tag_start)[f->in.n_amis];
	f->in.n_amis++;
	return AMICD_OK;
}

/*
 * The AMIs a decision needs, as the ASG's account sees them: those the account
 * sees tagged tag_name = one of commits (each found through the index on the
 * tag's value, so the cost follows these commits, not the region's history),
 * and the pinned one.
 */
static enum amicd_rc load_amis(struct store *st, struct store_asg_facts *f, const char *region, const char *uid,
			       const char *orgs, const char *tag_name, const char *pin_image, const struct strset *commits,
			       struct amicd_error *err)
{
	/* an images observation newer than the tag fact that does not list the image: no longer tagged there */
	sqlite3_stmt *s = store_prep(st, "SELECT t.image_id FROM ami_tags t WHERE t.region = ?1 AND t.account = ?2"
				   " AND t.key = ?3 AND lower(t.value) = lower(?4) AND NOT EXISTS (SELECT 1 FROM"
				   " image_observations o WHERE o.region = t.region AND o.account = t.account"
				   " AND o.tag_key = t.key AND o.commit_sha = lower(t.value) AND o.asked_ms >= t.ev_time"
				   " AND instr(o.listed, ',' || t.image_id || ',') = 0)", err);
	struct strset images = { 0 };
	char **found = NULL;
	size_t n_found = 0, cap = 0, tag_cap = 0, n_tags = 0;
	size_t *tag_start = NULL;
	enum amicd_rc rc = AMICD_OK;

	if (s == NULL)
		return AMICD_ERR_STORE;
	for (size_t c = 0; c < commits->n && rc == AMICD_OK; c++) {
		int src;

		sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, uid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, tag_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, commits->items[c], -1, SQLITE_STATIC);
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			char **grown = realloc(found, (n_found + 1) * sizeof *grown);
			char *copy = strdup((const char *)sqlite3_column_text(s, 0));

			if (grown != NULL)
				found = grown;
			if (grown == NULL || copy == NULL) {
				free(copy);
				src = SQLITE_NOMEM;
				break;
			}
			found[n_found++] = copy;
		}
		store_release(s);
		if (src == SQLITE_NOMEM)
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		else if (src != SQLITE_DONE)
			rc = store_db_error(st, err, "find the AMIs of a commit");
	}
	for (size_t i = 0; i < n_found && rc == AMICD_OK; i++)
		if (!strset_add(&images, found[i], false))
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (rc == AMICD_OK && !strset_add(&images, pin_image, false))
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (rc == AMICD_OK && images.n > 1)
		qsort(images.items, images.n, sizeof *images.items, by_string);
	for (size_t i = 0; i < images.n && rc == AMICD_OK; i++)
		rc = load_ami(st, f, region, uid, orgs, images.items[i], &cap, &tag_cap, &n_tags, &tag_start, err);
	if (rc == AMICD_OK) {
		/* the tag array may have moved while growing: point each AMI at its slice now */
		for (size_t i = 0; i < f->in.n_amis; i++) {
			f->amis[i].tags = f->tags != NULL ? &f->tags[tag_start[i]] : NULL;
			if (pin_image != NULL && strcmp(f->amis[i].image_id, pin_image) == 0) {
				f->pin_ami = &f->amis[i];
				f->in.pin_ami = f->pin_ami;
			}
		}
		f->in.amis = f->amis;
	}
	for (size_t i = 0; i < n_found; i++)
		free(found[i]);
	free(found);
	free(images.items);
	free(tag_start);
	return rc;
}

/* The organization and OU ARNs account lists under org_arns, as ",arn,arn," ("," when none); NULL on no memory. */
static char *org_list(const struct config_account *account)
{
	size_t len = 2;
	char *out;

	for (size_t i = 0; i < account->n_org_arns; i++)
		len += strlen(account->org_arns[i]) + 1;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	strcpy(out, ",");
	for (size_t i = 0; i < account->n_org_arns; i++) {
		strcat(out, account->org_arns[i]);
		strcat(out, ",");
	}
	return out;
}

/* The commits blocked for asg, oldest block first. */
static enum amicd_rc load_blocked(struct store *st, struct store_asg_facts *f, const char *asg, struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "SELECT commit_sha, reason, actor, blocked_at FROM blocked_commits WHERE asg = ?1"
				   " ORDER BY blocked_at, commit_sha", err);
	size_t n = 0, cap = 0;
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_blocked *row;

		if (n == cap) {
			size_t grown_cap = cap > 0 ? cap * 2 : 4;
			const char **gb = realloc(f->blocked, grown_cap * sizeof *gb);
			struct store_blocked *gr;

			if (gb == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			f->blocked = gb;
			gr = realloc(f->blocked_rows, grown_cap * sizeof *gr);
			if (gr == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			f->blocked_rows = gr;
			cap = grown_cap;
		}
		row = &f->blocked_rows[n];
		row->commit = keep(f, sqlite3_column_text(s, 0));
		row->reason = keep(f, sqlite3_column_text(s, 1));
		row->actor = keep(f, sqlite3_column_text(s, 2));
		row->at = keep(f, sqlite3_column_text(s, 3));
		if (row->commit == NULL || row->reason == NULL || row->actor == NULL || row->at == NULL) {
			src = SQLITE_NOMEM;
			break;
		}
		f->blocked[n++] = row->commit;
	}
	store_release(s);
	f->in.blocked = f->blocked;
	f->in.n_blocked = n;
	if (src == SQLITE_NOMEM)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (src != SQLITE_DONE)
		return store_db_error(st, err, "load blocked commits");
	return AMICD_OK;
}

static enum amicd_rc load_pin_and_state(struct store *st, struct store_asg_facts *f, const char *asg,
					struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "SELECT commit_sha, image_id, promotion_id, promoted_at FROM pins WHERE asg = ?1", err);
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		f->pin.commit = keep(f, sqlite3_column_text(s, 0));
		f->pin.image_id = keep(f, sqlite3_column_text(s, 1));
		f->pin_promotion = sqlite3_column_int64(s, 2);
		snprintf(f->pin_promoted_at, sizeof f->pin_promoted_at, "%s", sqlite3_column_text(s, 3));
		f->in.pin = &f->pin;
	}
	store_release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "load pin");
	s = store_prep(st, "SELECT frozen, reason, actor, changed_at FROM asg_state WHERE asg = ?1", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		f->asg.frozen = sqlite3_column_int(s, 0) != 0;
		f->state.frozen = f->asg.frozen;
		f->state.known = true;
		snprintf(f->state.reason, sizeof f->state.reason, "%s",
			 sqlite3_column_text(s, 1) != NULL ? (const char *)sqlite3_column_text(s, 1) : "");
		snprintf(f->state.actor, sizeof f->state.actor, "%s",
			 sqlite3_column_text(s, 2) != NULL ? (const char *)sqlite3_column_text(s, 2) : "");
		snprintf(f->state.changed_at, sizeof f->state.changed_at, "%s",
			 sqlite3_column_text(s, 3) != NULL ? (const char *)sqlite3_column_text(s, 3) : "");
	}
	store_release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "load ASG state");
	return load_blocked(st, f, asg, err);
}

enum amicd_rc store_asg_facts_load(struct store *st, const struct config_asg *asg,
				   struct store_asg_facts **out, struct amicd_error *err)
{
	return store_asg_facts_load_for(st, asg, NULL, 0, out, err);
}

enum amicd_rc store_asg_facts_load_for(struct store *st, const struct config_asg *asg, const char *const *extra,
				       size_t n_extra, struct store_asg_facts **out, struct amicd_error *err)
{
	struct strset commits = { 0 };
	struct store_asg_facts *f = calloc(1, sizeof *f);
	const struct config_filter *git = asg->git;
	enum amicd_rc rc = AMICD_OK;
	size_t n_statics = 0;

	*out = NULL;
	if (f == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	f->statics = calloc(asg->n_filters + 1, sizeof *f->statics);
	if (f->statics == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < asg->n_filters; i++) {
		if (asg->filters[i].provider != FILTER_STATIC)
			continue;
		f->statics[n_statics].key = asg->filters[i].tag_name;
		f->statics[n_statics].value = asg->filters[i].value;
		n_statics++;
	}
	f->asg.policy = asg->policy == POLICY_LATEST ? DECIDE_LATEST : DECIDE_HEAD;
	f->asg.ref_commit = git->ref_is_sha ? git->ref : NULL;
	f->asg.tag_name = git->tag_name;
	f->asg.statics = f->statics;
	f->asg.n_statics = n_statics;
	f->in.asg = &f->asg;

	pthread_mutex_lock(&st->lock);
	rc = load_pin_and_state(st, f, asg->identifier, err);
	if (rc == AMICD_OK && !git->ref_is_sha)
		rc = load_head(st, f, git->url, git->ref, err);
	if (rc == AMICD_OK)
		rc = load_pushed(st, f, asg, err);
	if (rc == AMICD_OK) {
		/* the commits whose AMIs matter: the pin's, the head's, the configured one,
		 * those pushed since the pin (policy latest), and what the caller asks about */
		bool ok = strset_add(&commits, f->in.pin != NULL ? f->pin.commit : NULL, true) &&
			  strset_add(&commits, f->in.head != NULL ? f->head.commit : NULL, true) &&
			  strset_add(&commits, f->asg.ref_commit, true);

		for (size_t i = 0; ok && i < f->in.n_pushed; i++)
			ok = strset_add(&commits, f->pushed[i].commit, true);
		for (size_t i = 0; ok && i < n_extra; i++)
			ok = strset_add(&commits, extra[i], true);
		char *orgs = ok ? org_list(asg->account) : NULL;

		rc = orgs != NULL ? load_amis(st, f, asg->region, asg->account->uid, orgs, git->tag_name, f->pin.image_id,
					      &commits, err)
				  : amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		free(orgs);
	}
	pthread_mutex_unlock(&st->lock);
	free(commits.items);
	if (rc == AMICD_OK) {
		*out = f;
		f = NULL;
	}
out:
	store_asg_facts_free(&f);
	return rc;
}


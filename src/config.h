/*
 * config.h — amicd's configuration: the YAML file of design §3, parsed whole and
 * validated before anything starts.
 *
 * config_load() reports every problem it finds, each as "file:line:column:
 * message", not just the first. Secrets come only from *_file (a mounted
 * Secret) or *_env (an environment variable): their bytes live in struct
 * secret and are read by auth.c and the trigger alone; nothing prints them.
 *
 * Ownership: a struct config and everything it points to belong to it and are
 * released by config_free(). Pointers between its parts (asg->account,
 * asg->git) point into the same config.
 */
#ifndef AMICD_CONFIG_H
#define AMICD_CONFIG_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

struct secret {
	unsigned char *bytes; /* NUL-terminated for convenience; NULL when not set */
	size_t len;
};

enum config_policy { POLICY_HEAD = 0, POLICY_LATEST };

enum filter_provider { FILTER_GIT = 0, FILTER_STATIC };

struct config_filter {
	enum filter_provider provider;
	char *tag_name;
	char *url;        /* git: repo URL in normal form (repourl.h) */
	char *url_given;  /* git: the URL as written in the file */
	char *ref;        /* git: branch name, or a 40- or 64-hex commit (lower-cased) */
	bool ref_is_sha;  /* git: ref is a commit, not a branch */
	char *value;      /* static: the tag value that must match */
};

/*
 * Credentials amicd uses to ask EC2 in one account (design §9). Static keys
 * (both or neither), optionally followed by sts:AssumeRole of role_arn. With
 * neither keys nor role_arn here, the defaults of "aws:" apply (the default
 * chain: AWS_* environment variables, or web identity + role).
 */
struct config_aws_cred {
	struct secret access_key_id;
	struct secret secret_access_key;
	char *role_arn;                  /* optional: sts:AssumeRole first */
};

struct config_account {
	char *name;
	char *uid;        /* 12-digit AWS account id */
	bool has_aws;     /* "aws:" given: the reconciler asks EC2 as this account */
	struct config_aws_cred aws;
	char **org_arns;  /* organization / OU ARNs the account belongs to (org shares) */
	size_t n_org_arns;
};

/* "aws:": defaults for every account with "aws:" (design §3, §9). */
struct config_aws {
	char *web_identity_token_file;   /* with role_arn: sts:AssumeRoleWithWebIdentity */
	char *role_arn;
	char *endpoint_ec2;              /* NULL: https://ec2.<region>.amazonaws.com */
	char *endpoint_sts;              /* NULL: https://sts.<region>.amazonaws.com */
	char *sts_region;                /* region STS requests are signed for; NULL: the ASG's */
};

/* One "gitlab_api:" entry: read-only API access for the repos on one host. */
struct config_gitlab_api {
	char *url;                       /* scheme://host[:port][/prefix], normal form, no trailing '/' */
	struct secret token;             /* PRIVATE-TOKEN (read_api scope) */
};

/* "reconcile:" (design §9). */
struct config_reconcile {
	int interval_seconds;            /* default 300 */
	int waiting_interval_seconds;    /* default 60 */
	int timeout_seconds;             /* default 10: each request to a source */
};

struct config_asg {
	char *identifier;
	const struct config_account *account;
	char *region;
	enum config_policy policy;
	struct config_filter *filters;
	size_t n_filters;
	const struct config_filter *git; /* the one git filter among filters */
	char *pin_file;
	/* set after parsing (config.c) */
	const struct config_gitlab_api *gitlab_api; /* the API that answers for git->url, or NULL */
	int source_timeout_seconds;      /* reconcile.timeout_seconds */
};

struct config_trigger {
	char *url;                /* NULL when command is used */
	struct secret token;      /* optional Bearer for url */
	char **command;           /* argv, NULL-terminated; NULL when url is used */
	size_t n_command;
	int timeout_seconds;
	int max_attempts;
	int backoff_max_seconds;
};

struct config_auth {
	struct secret gitlab_token;
	struct secret gitlab_signing_key; /* decoded key bytes (after whsec_) */
	char *eventbridge_api_key_header; /* lower-cased header name, or NULL */
	struct secret eventbridge_api_key;
	char *eventbridge_basic_user;     /* or NULL */
	struct secret eventbridge_basic_password;
	struct secret admin_token;
	struct secret read_token;         /* optional */
};

struct config_limits {
	size_t max_body_bytes;
	size_t max_inflight_bytes; /* request bodies held at once (received, or waiting for their commit) */
	int busy_timeout_ms;      /* how long a commit may wait for the write lock */
	size_t max_inflight;      /* deliveries queued for commit before 503 */
	size_t rejected_keep;     /* rows kept in rejected_deliveries */
	size_t rejected_keep_bytes; /* … and at most this many bytes of their bodies */
	unsigned max_connections; /* open HTTP connections */
	unsigned max_connections_per_address; /* … from one client address (0: no limit) */
	unsigned request_timeout_seconds; /* a request's head and body must arrive within this */
	unsigned idle_timeout_seconds;    /* a silent connection is closed after this */
	unsigned stall_seconds;           /* work waiting this long for the writer or the worker: not ready */
};

struct config {
	char *path;
	char *listen_host;
	unsigned listen_port;
	char *public_listen_host;  /* NULL: no public listener (design §4: hooks and /healthz only) */
	unsigned public_listen_port;
	char *database;
	char *pins_dir;
	char *log_level;
	struct config_auth auth;
	struct config_limits limits;
	struct config_trigger trigger;
	struct config_account *accounts;
	size_t n_accounts;
	struct config_asg *asgs;
	size_t n_asgs;
	struct config_aws aws;
	struct config_gitlab_api *gitlab_apis;
	size_t n_gitlab_apis;
	struct config_reconcile reconcile;
};

/* Diagnostics of one config_load(): lines of "file:line:column: message". */
struct config_diag {
	char **lines;
	size_t n;
};

/*
 * config_load — parse and validate the file at path. On success *out is the
 * config (caller frees with config_free) and diag is empty. On failure returns
 * AMICD_ERR_CONFIG (or AMICD_ERR_IO when the file cannot be read) with every
 * problem in diag (caller frees with config_diag_free) and *out NULL.
 */
enum amicd_rc config_load(const char *path, struct config **out, struct config_diag *diag);

/* Flags of config_load_with. */
enum config_load_flags {
	/*
	 * Check every secret's key (given, a string, not both *_file and *_env)
	 * but read none: no file is opened, no variable looked up, and every
	 * struct secret stays empty. For check-config away from the pod (CI,
	 * ConfigMap review); such a config must never serve.
	 */
	CONFIG_LOAD_OFFLINE = 1 << 0,
};

/* config_load_with — config_load with flags (CONFIG_LOAD_*). */
enum amicd_rc config_load_with(const char *path, unsigned flags, struct config **out, struct config_diag *diag);

/* config_free — release cfg and everything it owns; NULL is a no-op. */
void config_free(struct config *cfg);

/* config_diag_free — release the lines of diag and empty it. */
void config_diag_free(struct config_diag *diag);

/* The top-level sections of the file, as config_diff reports them (named by config_section_name). */
enum config_section {
	CONFIG_LISTEN = 1 << 0,
	CONFIG_DATABASE = 1 << 1,
	CONFIG_PINS_DIR = 1 << 2,
	CONFIG_LOG_LEVEL = 1 << 3,
	CONFIG_AUTH = 1 << 4,
	CONFIG_LIMITS = 1 << 5,
	CONFIG_TRIGGER = 1 << 6,
	CONFIG_ACCOUNTS = 1 << 7,
	CONFIG_AWS = 1 << 8,
	CONFIG_GITLAB_API = 1 << 9,
	CONFIG_RECONCILE = 1 << 10,
	CONFIG_RESOURCES = 1 << 11,
	CONFIG_SECTIONS_ALL = (1 << 12) - 1,
};

/*
 * config_diff — the sections (CONFIG_* bits) whose parsed values differ
 * between a and b, secrets' bytes included (a rotated token file is a change).
 * Pure: compares what config_load parsed, no file is read.
 */
unsigned config_diff(const struct config *a, const struct config *b);

/* config_section_name — the YAML key of one section ("listen", "terraformResources", …); "?" for another value. */
const char *config_section_name(enum config_section section);

/* config_find_asg — the ASG with this identifier, or NULL. */
const struct config_asg *config_find_asg(const struct config *cfg, const char *identifier);

/*
 * config_tracks — true when some ASG's git filter follows branch of repo
 * (repo in normal form, any case of the path). A filter whose ref is a commit
 * follows no branch.
 */
bool config_tracks(const struct config *cfg, const char *repo, const char *branch);

/*
 * config_repo — the config's spelling of repo (a normal form, compared as
 * repo_url_equal does: GitLab's paths ignore case), or NULL when no ASG's git
 * filter names it. Every ASG naming one repo has the same spelling (the first
 * one's): pushes and observations are stored under it.
 */
const char *config_repo(const struct config *cfg, const char *repo);

/* config_knows_repo — true when some ASG's git filter names repo (normal form, any case of the path). */
bool config_knows_repo(const struct config *cfg, const char *repo);

/*
 * config_push_repo — of a push's repo URLs (normal form; NULL entries skipped),
 * the first that some ASG follows on branch, in the config's spelling
 * (config_repo), or NULL. *repo_known (may be NULL)
 * tells whether any of them is a configured repo at all.
 */
const char *config_push_repo(const struct config *cfg, char *const *urls, size_t n, const char *branch,
			     bool *repo_known);

/*
 * config_gitlab_api_for — the gitlab_api entry whose URL is a prefix of repo
 * (normal form) at a path boundary, matched by scheme and host; NULL when the
 * repo's host has none (the reconciler does not ask GitLab for it).
 */
const struct config_gitlab_api *config_gitlab_api_for(const struct config *cfg, const char *repo);

/* config_ref_valid — true for a valid branch name or a 40- or 64-hex commit. */
bool config_ref_valid(const char *ref);

#endif

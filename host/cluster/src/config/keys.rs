//! Every key this program reads, with its default and meaning: the table
//! the README's configuration section lists, and the names code uses.

/// Every key this program reads: (key, default, meaning). The README's
/// configuration table is this list (a test checks it lists every key).
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        CLUSTER_NAME,
        "(none)",
        "the cluster this process belongs to",
    ),
    (
        MULTI_CLUSTER_ENABLED,
        "false",
        "see every cluster of the topology file, not just this one",
    ),
    (
        MULTI_CLUSTER_CONFIG_PATH,
        "(none)",
        "path of multi-az-clusters.json",
    ),
    (
        ETCD_ENDPOINTS,
        "(none)",
        "comma-separated etcd URLs of this cluster (external etcd)",
    ),
    (
        ETCD_USERNAME,
        "(none)",
        "etcd user, with alluxio.etcd.password",
    ),
    (ETCD_PASSWORD, "(none)", "etcd password"),
    (
        ETCD_TLS_CA,
        "azimuth.security.tls.ca",
        "PEM file of the CA that signs etcd's certificates, for https:// etcd endpoints",
    ),
    (
        ETCD_TLS_CERT,
        "(none)",
        "PEM certificate chain this process presents to etcd (etcd's --client-cert-auth)",
    ),
    (
        ETCD_TLS_KEY,
        "(none)",
        "PEM private key of azimuth.etcd.tls.cert",
    ),
    (
        MEMBERSHIP_TYPE,
        "ETCD",
        "ETCD, or STATIC for a fixed list of workers and no etcd",
    ),
    (
        STATIC_MEMBERSHIP_FILE,
        "(none)",
        "with STATIC: file listing worker addresses, one per line",
    ),
    (
        FAILURE_DETECTION_TIMEOUT,
        "5s",
        "a worker's lease TTL: how long a dead worker stays listed",
    ),
    (
        PREFER_CACHED_REPLICAS,
        "false",
        "rank fully cached replicas first",
    ),
    (
        PASSIVE_CACHE,
        "false",
        "a read served by another cluster leaves a replica in this one",
    ),
    (
        UFS_FALLBACK,
        "true",
        "read from the UFS when no worker can serve",
    ),
    (
        UFS_ROOT,
        "(none)",
        "the UFS root URL (file:///dir, s3://bucket/prefix)",
    ),
    (
        REPLICATION_MIN,
        "1",
        "replicas of a file in each cluster (1 to 16)",
    ),
    (
        CONNECT_TIMEOUT,
        "1s",
        "how long a client waits to connect to a worker",
    ),
    (
        FIRST_BYTE_TIMEOUT,
        "5s",
        "how long a client waits for a worker's first byte, then each chunk",
    ),
    (
        PIPELINING,
        "true",
        "a client's small reads to a worker share a pipelined connection",
    ),
    (
        RETRY_LIMIT_PER_SOURCE,
        "3",
        "retries of one source a policy may ask for in one read; more go on to the next source",
    ),
    (
        RETRY_LIMIT_TOTAL,
        "10s",
        "time one read may wait on retries in all; past it, retries go on to the next source",
    ),
    (
        POLICY_PATH,
        "(none)",
        "a policy component file to run and follow (hot swap)",
    ),
    (
        POLICY_NAME,
        "(none)",
        "a policy published in etcd to run and follow",
    ),
    (
        POLICY_CALL_TIMEOUT,
        "10ms",
        "CPU time a policy may spend on one decision",
    ),
    (
        POLICY_MEMORY_LIMIT,
        "16MB",
        "memory cap of each policy instance",
    ),
    (
        POLICY_QUARANTINE_AFTER,
        "5",
        "consecutive failures after which a policy is quarantined",
    ),
    (
        WORKER_ID,
        "<host>-<port>",
        "this worker's identity in membership",
    ),
    (
        WORKER_ZONE,
        "<cluster name>",
        "this worker's availability zone, for display",
    ),
    (
        WORKER_LISTEN,
        "127.0.0.1:0",
        "the worker's HTTP listen address",
    ),
    (
        WORKER_HOST,
        "<listen host>",
        "the host name clients reach the worker at (needed with 0.0.0.0)",
    ),
    (
        PAGE_STORE_DIRS,
        "<tmp>/azimuth-cache/<cluster>-<id>",
        "the worker's cache directory (one)",
    ),
    (PAGE_STORE_SIZES, "1GB", "the worker's cache capacity"),
    (PAGE_SIZE, "1MB", "the size of a cached page (4KB to 64MB)"),
    (
        MEMORY_CACHE_SIZE,
        "64MB",
        "verified pages of small reads kept in memory above the disk cache (0: off)",
    ),
    (
        POLICY_IDLE_INSTANCES,
        "2 x CPUs",
        "ready policy instances kept for concurrent decisions",
    ),
    (
        METADATA_SYNC_INTERVAL,
        "1min",
        "how old a file's remembered UFS version and length may be before the UFS is asked again (-1: never, 0: every access)",
    ),
    (
        S3_ACCESS_KEY_ID,
        "(AWS_ACCESS_KEY_ID)",
        "access key of an s3:// UFS",
    ),
    (
        S3_SECRET_KEY,
        "(AWS_SECRET_ACCESS_KEY)",
        "secret key of an s3:// UFS",
    ),
    (
        S3_ACCESS_KEY_ID_AWS,
        "(none)",
        "another name of s3a.accessKeyId (Alluxio Enterprise's)",
    ),
    (
        S3_SECRET_KEY_AWS,
        "(none)",
        "another name of s3a.secretKey (Alluxio Enterprise's)",
    ),
    (
        S3_ENDPOINT,
        "(AWS_ENDPOINT)",
        "URL of an S3-compatible store other than AWS (MinIO, Ceph, moto)",
    ),
    (S3_REGION, "(AWS_REGION)", "region of an s3:// UFS"),
    (
        GATEWAY_LISTEN,
        "127.0.0.1:0",
        "the S3 gateway's listen address (port 0: a free port)",
    ),
    (
        GATEWAY_CREDENTIALS_FILE,
        "(none)",
        "the S3 gateway's keys: one `ACCESS_KEY SECRET_KEY` pair a line",
    ),
    (
        GATEWAY_ANONYMOUS_READ,
        "false",
        "the S3 gateway serves reads and listings to unsigned requests",
    ),
    (
        GATEWAY_THREADS,
        "0",
        "threads serving the S3 gateway's requests; 0: one per core",
    ),
    (
        MOUNT_METADATA_EXPIRATION,
        "1min",
        "how long `azimuth mount` trusts a file's attributes and a directory's listing (the kernel's too)",
    ),
    (
        MOUNT_METADATA_MAX_SIZE,
        "100000",
        "file attributes `azimuth mount` remembers, least recently used out",
    ),
    (
        MOUNT_CACHED_PATHS_MAX,
        "500",
        "directory listings `azimuth mount` remembers, least recently used out",
    ),
    (
        MOUNT_READAHEAD_MAX,
        "8MB",
        "largest read-ahead of a sequential reader of `azimuth mount` (at most twice it held per open file)",
    ),
    (
        WORKER_HEADER_TIMEOUT,
        "10s",
        "how long a request's headers may take to reach a worker; a slower client is cut off",
    ),
    (
        WORKER_MAX_HEADER_BYTES,
        "32KB",
        "largest request headers a worker reads (8KB to 1MB; 431 beyond)",
    ),
    (
        WORKER_MAX_CONNECTIONS,
        "10000",
        "connections a worker holds open at once; one more is closed at once",
    ),
    (
        WORKER_THREADS,
        "0",
        "threads serving a worker's requests; 0: one per core",
    ),
    (
        SECURITY_TOKEN_FILE,
        "(none)",
        "file holding the token workers require of every client (`Authorization: Bearer`)",
    ),
    (
        SECURITY_TLS_CA,
        "(none)",
        "PEM file of the CA that signs the site's certificates: set, workers serve HTTPS and clients trust only it",
    ),
    (
        SECURITY_TLS_CERT,
        "(none)",
        "PEM certificate chain of this process (a worker's server certificate, a client's own)",
    ),
    (
        SECURITY_TLS_KEY,
        "(none)",
        "PEM private key of azimuth.security.tls.cert",
    ),
    (
        SECURITY_OPEN_ROUTES,
        "/healthz,/metrics",
        "worker routes served without the token (comma-separated; empty: none)",
    ),
];

/// The cluster this process belongs to.
pub const CLUSTER_NAME: &str = "alluxio.cluster.name";
/// See every cluster of the topology file, not just this one.
pub const MULTI_CLUSTER_ENABLED: &str = "alluxio.multi.cluster.enabled";
/// Path of multi-az-clusters.json.
pub const MULTI_CLUSTER_CONFIG_PATH: &str = "alluxio.multi.cluster.config.path";
/// Comma-separated etcd URLs of this cluster (external etcd).
pub const ETCD_ENDPOINTS: &str = "alluxio.etcd.endpoints";
/// Etcd user, with alluxio.etcd.password.
pub const ETCD_USERNAME: &str = "alluxio.etcd.username";
/// Etcd password.
pub const ETCD_PASSWORD: &str = "alluxio.etcd.password";
/// PEM file of the CA that signs etcd's certificates, for https:// etcd endpoints.
pub const ETCD_TLS_CA: &str = "azimuth.etcd.tls.ca";
/// PEM certificate chain this process presents to etcd (etcd's --client-cert-auth).
pub const ETCD_TLS_CERT: &str = "azimuth.etcd.tls.cert";
/// PEM private key of azimuth.etcd.tls.cert.
pub const ETCD_TLS_KEY: &str = "azimuth.etcd.tls.key";
/// ETCD, or STATIC for a fixed list of workers and no etcd.
pub const MEMBERSHIP_TYPE: &str = "alluxio.worker.membership.manager.type";
/// With STATIC: file listing worker addresses, one per line.
pub const STATIC_MEMBERSHIP_FILE: &str = "alluxio.worker.static.membership.manager.config.file";
/// A worker's lease TTL: how long a dead worker stays listed.
pub const FAILURE_DETECTION_TIMEOUT: &str = "alluxio.worker.failure.detection.timeout";
/// Rank fully cached replicas first.
pub const PREFER_CACHED_REPLICAS: &str = "alluxio.user.replica.prefer.cached.replicas";
/// A read served by another cluster leaves a replica in this one.
pub const PASSIVE_CACHE: &str = "alluxio.user.file.passive.cache.enabled";
/// Read from the UFS when no worker can serve.
pub const UFS_FALLBACK: &str = "alluxio.dora.client.ufs.fallback.enabled";
/// The UFS root URL (file:///dir, s3://bucket/prefix).
pub const UFS_ROOT: &str = "alluxio.dora.client.ufs.root";
/// A policy component file to run and follow (hot swap).
pub const POLICY_PATH: &str = "azimuth.policy.path";
/// A policy published in etcd to run and follow.
pub const POLICY_NAME: &str = "azimuth.policy.name";
/// CPU time a policy may spend on one decision.
pub const POLICY_CALL_TIMEOUT: &str = "azimuth.policy.call.timeout";
/// Memory cap of each policy instance.
pub const POLICY_MEMORY_LIMIT: &str = "azimuth.policy.memory.limit";
/// Consecutive failures after which a policy is quarantined.
pub const POLICY_QUARANTINE_AFTER: &str = "azimuth.policy.quarantine.after";
/// This worker's identity in membership.
pub const WORKER_ID: &str = "azimuth.worker.id";
/// This worker's availability zone, for display.
pub const WORKER_ZONE: &str = "azimuth.worker.zone";
/// The worker's HTTP listen address.
pub const WORKER_LISTEN: &str = "azimuth.worker.listen";
/// The host name clients reach the worker at (needed with 0.0.0.0).
pub const WORKER_HOST: &str = "azimuth.worker.host";
/// The worker's cache directory (one).
pub const PAGE_STORE_DIRS: &str = "alluxio.worker.page.store.dirs";
/// The worker's cache capacity.
pub const PAGE_STORE_SIZES: &str = "alluxio.worker.page.store.sizes";
/// The size of a cached page (4KB to 64MB).
pub const PAGE_SIZE: &str = "alluxio.worker.page.store.page.size";
/// Verified pages of small reads kept in memory above the disk cache (0: off).
pub const MEMORY_CACHE_SIZE: &str = "azimuth.worker.memory.cache.size";
/// Replicas of a file in each cluster (1 to 16).
pub const REPLICATION_MIN: &str = "alluxio.user.file.replication.min";
/// How long a client waits to connect to a worker.
pub const CONNECT_TIMEOUT: &str = "azimuth.client.connect.timeout";
/// How long a client waits for a worker's first byte, then each chunk.
pub const FIRST_BYTE_TIMEOUT: &str = "azimuth.client.first.byte.timeout";
/// Whether a client's small reads to a worker share a pipelined connection.
pub const PIPELINING: &str = "azimuth.client.pipelining.enabled";
/// Retries of one source a policy may ask for in one read; more go on to the next source.
pub const RETRY_LIMIT_PER_SOURCE: &str = "azimuth.client.retry.limit.per.source";
/// Time one read may wait on retries in all; past it, retries go on to the next source.
pub const RETRY_LIMIT_TOTAL: &str = "azimuth.client.retry.limit.total";
/// Ready policy instances kept for concurrent decisions.
pub const POLICY_IDLE_INSTANCES: &str = "azimuth.policy.instances.idle";
/// How old a file's remembered UFS version and length may be before the UFS is asked again (-1: never, 0: every access).
pub const METADATA_SYNC_INTERVAL: &str = "alluxio.user.file.metadata.sync.interval";
/// Access key of an s3:// UFS.
pub const S3_ACCESS_KEY_ID: &str = "s3a.accessKeyId";
/// Secret key of an s3:// UFS.
pub const S3_SECRET_KEY: &str = "s3a.secretKey";
/// URL of an S3-compatible store other than AWS (MinIO, Ceph, moto).
pub const S3_ENDPOINT: &str = "alluxio.underfs.s3.endpoint";
/// Region of an s3:// UFS.
pub const S3_REGION: &str = "alluxio.underfs.s3.endpoint.region";
/// The S3 gateway's listen address (port 0: a free port).
pub const GATEWAY_LISTEN: &str = "azimuth.gateway.listen";
/// The S3 gateway's keys: one `ACCESS_KEY SECRET_KEY` pair a line.
pub const GATEWAY_CREDENTIALS_FILE: &str = "azimuth.gateway.credentials.file";
/// The S3 gateway serves reads and listings to unsigned requests.
pub const GATEWAY_ANONYMOUS_READ: &str = "azimuth.gateway.anonymous.read";
/// Threads serving the S3 gateway's requests (its runtime's worker threads); 0: one per core.
pub const GATEWAY_THREADS: &str = "azimuth.gateway.threads";
/// How long `azimuth mount` trusts a file's attributes and a directory's listing (the kernel's too).
pub const MOUNT_METADATA_EXPIRATION: &str = "alluxio.user.metadata.cache.expiration.time";
/// File attributes `azimuth mount` remembers, least recently used out.
pub const MOUNT_METADATA_MAX_SIZE: &str = "alluxio.user.metadata.cache.max.size";
/// Directory listings `azimuth mount` remembers, least recently used out.
pub const MOUNT_CACHED_PATHS_MAX: &str = "alluxio.fuse.cached.paths.max";
/// Largest read-ahead of a sequential reader of `azimuth mount`.
pub const MOUNT_READAHEAD_MAX: &str = "azimuth.mount.readahead.max";
/// Another name of s3a.accessKeyId (Alluxio Enterprise's).
pub const S3_ACCESS_KEY_ID_AWS: &str = "aws.accessKeyId";
/// Another name of s3a.secretKey (Alluxio Enterprise's).
pub const S3_SECRET_KEY_AWS: &str = "aws.secretKey";
/// File holding the token workers require of every client (`Authorization: Bearer`).
pub const SECURITY_TOKEN_FILE: &str = "azimuth.security.token.file";
/// Worker routes served without the token (comma-separated; empty: none).
pub const SECURITY_OPEN_ROUTES: &str = "azimuth.security.open.routes";
/// How long a request's headers may take to reach a worker; a slower client is cut off.
pub const WORKER_HEADER_TIMEOUT: &str = "azimuth.worker.http.header.timeout";
/// Largest request headers a worker reads (8KB to 1MB; 431 beyond).
pub const WORKER_MAX_HEADER_BYTES: &str = "azimuth.worker.http.max.header.bytes";
/// Connections a worker holds open at once; one more is closed at once.
pub const WORKER_MAX_CONNECTIONS: &str = "azimuth.worker.http.max.connections";
/// Threads serving a worker's requests (its runtime's worker threads); 0: one per core.
pub const WORKER_THREADS: &str = "azimuth.worker.threads";
/// PEM file of the CA that signs the site's certificates: set, workers serve HTTPS and clients trust only it.
pub const SECURITY_TLS_CA: &str = "azimuth.security.tls.ca";
/// PEM certificate chain of this process (a worker's server certificate, a client's own).
pub const SECURITY_TLS_CERT: &str = "azimuth.security.tls.cert";
/// PEM private key of azimuth.security.tls.cert.
pub const SECURITY_TLS_KEY: &str = "azimuth.security.tls.key";

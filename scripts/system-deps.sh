#!/usr/bin/env bash
# Make sure the system packages the real servers need are present: PostgreSQL and MariaDB (Airflow metadata
# DBs; libmariadb-dev builds mysqlclient, which Airflow 3 imports for any mysql URL),
# Java 17 + Maven (Cassandra), Go (kube-apiserver/etcd builds). On the machines this project targets
# they come with the image; on a bare Debian box running as root this installs them with apt-get.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || missing+=(mariadb-server)
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev pkg-config)
command -v runuser >/dev/null || missing+=(util-linux)
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v go >/dev/null || missing+=(golang-go)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
else
  echo "system-deps: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

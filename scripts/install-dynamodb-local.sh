#!/usr/bin/env bash
# Installs DynamoDB Local (AWS's jar, shipped in the npm package amplify-dynamodb-simulator)
# under $DYNAMODB_LOCAL_HOME (default .local/dynamodb-local). Idempotent. Needs npm and Java 17+.
set -euo pipefail
version="${DYNAMODB_SIMULATOR_VERSION:-2.9.30}"
home="${DYNAMODB_LOCAL_HOME:-$(cd "$(dirname "$0")/.." && pwd)/.local/dynamodb-local}"
if [ -f "$home/package/emulator/DynamoDBLocal.jar" ] && [ -f "$home/.version-$version" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to fetch DynamoDB Local" >&2; exit 1; }
command -v java >/dev/null || { echo "java (17+) is required to run DynamoDB Local" >&2; exit 1; }
rm -rf "$home" && mkdir -p "$home"
tarball=$(cd "$home" && npm pack --silent "amplify-dynamodb-simulator@$version" | tail -n 1)
tar -xzf "$home/$tarball" -C "$home" package/emulator package/package.json
rm -f "$home/$tarball"
touch "$home/.version-$version"
echo "DynamoDB Local installed in $home"

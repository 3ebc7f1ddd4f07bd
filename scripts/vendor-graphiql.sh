#!/usr/bin/env bash
# Refreshes the GraphiQL page's assets, which the server embeds so that /graphql
# works with no internet. Usage: scripts/vendor-graphiql.sh [GRAPHIQL_VERSION]
set -euo pipefail
version="${1:-3.9.0}"
dest="$(cd "$(dirname "$0")/.." && pwd)/crates/hourglass-server/assets/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$version" react@18.3.1 react-dom@18.3.1 >/dev/null
for tgz in *.tgz; do mkdir "${tgz%.tgz}" && tar xzf "$tgz" -C "${tgz%.tgz}" --strip-components=1; done
cp "graphiql-$version/graphiql.min.js" "graphiql-$version/graphiql.min.css" "$dest/"
cp react-18.3.1/umd/react.production.min.js react-dom-18.3.1/umd/react-dom.production.min.js "$dest/"
{
  echo "graphiql $version, react 18.3.1 and react-dom 18.3.1 from the npm registry; all MIT licensed."
  echo; echo "=== graphiql"; cat "graphiql-$version/LICENSE"
  echo; echo "=== react, react-dom"; cat react-18.3.1/LICENSE
} > "$dest/LICENSES.txt"
echo "vendored graphiql $version into $dest"

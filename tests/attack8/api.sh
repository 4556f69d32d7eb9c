# usage: api.sh USER METHOD PATH [JSON]
U=$1; M=$2; P=$3; D=$4; J=/tmp/att8/jar.$U
if [ ! -f $J.csrf ]; then
  curl -s -m 5 -c $J -X POST -H 'content-type: application/json' -d "{\"username\":\"$U\",\"password\":\"Demo12345\"}" http://127.0.0.1:18777/api/login | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/' > $J.csrf
fi
curl -s -m 10 -b $J -X $M -H 'content-type: application/json' -H "x-csrf-token: $(cat $J.csrf)" ${D:+-d "$D"} -w ' [%{http_code}]\n' http://127.0.0.1:18777$P

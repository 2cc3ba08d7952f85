#!/usr/bin/env bash
# Starts `hitl serve` on the credit_risk example with fresh demo tokens, printing how to use it.
set -euo pipefail
build=${1:-build}; config=${2:-examples/credit_risk/hitl.lua}; listen=${3:-127.0.0.1:8080}
hitl="$build/bin/hitl"
stamp=$(date +%Y%m%d-%H%M%S)
admin=$("$hitl" token create --config "$config" --role admin --name "demo-admin-$stamp")
reviewer=$("$hitl" token create --config "$config" --role reviewer --name "demo-reviewer-$stamp")
client=$("$hitl" token create --config "$config" --role client --name "demo-client-$stamp")
cat <<TXT

hitl: credit_risk example on http://$listen
  web UI:         http://$listen/ui/   (sign in with a token below; docs/ui.md)
  admin token:    $admin
  reviewer token: $reviewer
  client token:   $client

Send an application (the model scores it; the policy sends loans above 2,500 to review):
  curl -s -H "Authorization: Bearer $client" -X POST http://$listen/v1/domains/credit_risk/predictions \\
    -d '{"id":"app-1","input":{"Seniority":1,"Home":"rent","Time":60,"Age":25,"Marital":"single","Records":"yes","Job":"partime","Expenses":60,"Income":80,"Assets":0,"Debt":0,"Amount":3000,"Price":3100}}'
Claim the next review task, then correct it:
  curl -s -H "Authorization: Bearer $reviewer" "http://$listen/v1/review/next?domain=credit_risk"
  curl -s -H "Authorization: Bearer $reviewer" -X POST http://$listen/v1/review/tasks/TASK_ID/outcome \\
    -d '{"outcome":"correct","correction":{"label":"good"},"comment":"stable income"}'
Read the decision, and the metrics:
  curl -s -H "Authorization: Bearer $client" http://$listen/v1/domains/credit_risk/decisions/app-1
  curl -s -H "Authorization: Bearer $admin" http://$listen/metrics
Stop with Ctrl-C.

TXT
exec "$hitl" serve --config "$config" --listen "$listen"

"""Parses a Prometheus textfile as node_exporter's textfile collector would (prometheus_client's
parser); prints JSON {metric family: [[labels, value], ...]}. Usage: prom_parse.py FILE"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
with open(sys.argv[1]) as f:
    for family in text_string_to_metric_families(f.read()):
        families[family.name] = [[s.labels, s.value] for s in family.samples]
json.dump(families, sys.stdout)

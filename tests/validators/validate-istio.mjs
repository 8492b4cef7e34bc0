// Validates the Istio objects of a multi-document YAML file against Istio 1.29's CRD
// schemas (@kubernetes-models/istio, Ajv): exit 1 and one FAIL line per invalid object.
// Kubernetes core kinds are skipped (kubernetes-validate checks those). Ajv does not check
// unknown fields or the CEL rules; the compiler checks those itself.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { WasmPlugin } from "@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin";
import { Gateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { ServiceEntry } from "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
const kinds = { WasmPlugin, Gateway, VirtualService, ServiceEntry, DestinationRule };
let failed = 0;
for (const doc of yaml.loadAll(readFileSync(process.argv[2], "utf8"))) {
  const model = kinds[doc.kind];
  if (!model) { console.log(`skip ${doc.kind}/${doc.metadata.name}`); continue; }
  try { new model(doc).validate(); console.log(`ok ${doc.kind}/${doc.metadata.name}`); }
  catch (e) { failed++; console.log(`FAIL ${doc.kind}/${doc.metadata.name}: ${e.message}`); }
}
process.exit(failed ? 1 : 0);

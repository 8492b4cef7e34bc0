// Validates the custom resources of a multi-document YAML file against their CRD schemas:
// Istio 1.29 (@kubernetes-models/istio), Gateway API and Envoy Gateway
// (@kubernetes-models/gateway-api, @kubernetes-models/envoy-gateway), all Ajv. Prints one
// ok/FAIL line per object and exits 1 when any fails. Kubernetes core kinds are skipped
// (kubernetes-validate checks those). Ajv does not check unknown fields or CEL rules; the
// compiler checks those itself.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { WasmPlugin } from "@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin";
import { Gateway as IstioGateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { ServiceEntry } from "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { Gateway, HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import {
  Backend,
  EnvoyExtensionPolicy,
  EnvoyPatchPolicy,
  HTTPRouteFilter,
} from "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1";

const models = {
  "extensions.istio.io/v1alpha1 WasmPlugin": WasmPlugin,
  "networking.istio.io/v1 Gateway": IstioGateway,
  "networking.istio.io/v1 VirtualService": VirtualService,
  "networking.istio.io/v1 ServiceEntry": ServiceEntry,
  "networking.istio.io/v1 DestinationRule": DestinationRule,
  "gateway.networking.k8s.io/v1 Gateway": Gateway,
  "gateway.networking.k8s.io/v1 HTTPRoute": HTTPRoute,
  "gateway.envoyproxy.io/v1alpha1 Backend": Backend,
  "gateway.envoyproxy.io/v1alpha1 EnvoyExtensionPolicy": EnvoyExtensionPolicy,
  "gateway.envoyproxy.io/v1alpha1 EnvoyPatchPolicy": EnvoyPatchPolicy,
  "gateway.envoyproxy.io/v1alpha1 HTTPRouteFilter": HTTPRouteFilter,
};
let failed = 0;
for (const doc of yaml.loadAll(readFileSync(process.argv[2], "utf8"))) {
  const model = models[`${doc.apiVersion} ${doc.kind}`];
  const name = `${doc.kind}/${doc.metadata.name}`;
  if (!model) {
    console.log(`skip ${name}`);
    continue;
  }
  try {
    new model(doc).validate();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);

/**
 * Hosts that live for one test: started here, closed by vitest when the test finishes,
 * so a suite's rows need no before/after hooks.
 */
import { onTestFinished } from "vitest";
import { fourHosts, type FourHosts, type FourHostsOptions } from "./hosts.js";
import { ScriptedEndpoint } from "./rogue.js";

/** The four hosts, fresh for this test. */
export async function startHosts(options: FourHostsOptions = {}): Promise<FourHosts> {
  const h = await fourHosts(options);
  onTestFinished(() => h.close());
  return h;
}

/** A scripted (rogue or stand-in) endpoint, fresh for this test. */
export async function scriptedEndpoint(): Promise<ScriptedEndpoint> {
  const endpoint = await new ScriptedEndpoint().listen();
  onTestFinished(() => endpoint.stop());
  return endpoint;
}

export { startDemo, type Demo, type DemoHost } from "./hosts.js";
export { Tracer } from "./trace.js";

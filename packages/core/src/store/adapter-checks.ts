/**
 * `@indiepm/core/store-adapter`: what a `Store` adapter outside this package (the
 * PostgreSQL one) shares with the two here, so every adapter refuses the same input with
 * the same sentence (memory.ts defines the checks; the contract suite tests them).
 */
export { checkCollection, checkDocument, checkFieldName, checkId, checkPatch, checkQuery, checkWhere, closedStoreError } from "./memory.js";

// The one WASM module of hearsay. Each part re-exports its functions here.
export * from "./codec";
export * from "./intern";
export * from "./phi";

// Loaded with `node --import ./bin/polyfill.mjs` before any libp2p module is evaluated.
// libp2p 3 calls Promise.withResolvers (Node >= 22); Starling supports Node >= 20.19.
// A static import in the entry file is not enough: the module graph is evaluated first.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

// Preloaded into dynalite (node --require) by internal/servers.
//
// dynalite 4.0.0 rethrows every request 'error' event
// (index.js: req.on('error', function (err) { throw err })), so a client that
// closes its connection in the middle of a request body (a cancelled context,
// an injected connection reset) kills the whole server, and with it every test
// package sharing it. A client going away is not a server error: this script
// drops exactly those errors and lets every other error end the process as
// before, with its stack in the log.
'use strict'

var http = require('http')

// Errors Node raises on a request when its client disconnects early.
var CLIENT_GONE = { ECONNRESET: true, ECONNABORTED: true, EPIPE: true, ERR_STREAM_PREMATURE_CLOSE: true }

function clientGone (err) {
  return err != null && (CLIENT_GONE[err.code] === true || err.message === 'aborted')
}

var aborts = 0
function note (err) {
  aborts++
  console.error('dynalite-guard: client went away mid-request (%s); server keeps running [%d so far]',
    err.code || err.message, aborts)
}

// Wrap 'error' listeners on incoming requests so a client abort is logged, not thrown.
var on = http.IncomingMessage.prototype.on
http.IncomingMessage.prototype.on = function (event, listener) {
  if (event !== 'error' || typeof listener !== 'function') return on.call(this, event, listener)
  return on.call(this, event, function (err) {
    if (clientGone(err)) return note(err)
    return listener.apply(this, arguments)
  })
}
http.IncomingMessage.prototype.addListener = http.IncomingMessage.prototype.on

// Belt and braces: a client abort that escapes some other way is still not fatal.
process.on('uncaughtException', function (err) {
  if (clientGone(err)) return note(err)
  console.error('dynalite-guard: uncaught exception, exiting:', err && err.stack ? err.stack : err)
  process.exit(1)
})

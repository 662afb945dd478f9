// Package origin is frontrow's HTTP face. Its HLS part serves what the
// packager holds, CDN-correct: blocking playlist reload, preload-hint parts,
// and one Cache-Control table per response kind.
package origin

// Stand-in for packages a bundle must not load (see scripts/build.mjs).
module.exports = {};

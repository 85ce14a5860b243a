// Trivial placeholder; the lead owns the real global setup (builds, FUSE checks).
export default async function () {}

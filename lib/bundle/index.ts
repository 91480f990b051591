export {makeBundle, type BundleOptions, type BundleReport, type ManifestFile} from './bundle.js';
export {ChecksumError, type RemoteAccess} from './fetch.js';
export {bundleSources, locateFiles, type BundleSource} from './locate.js';

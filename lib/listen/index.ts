export {checkDesign} from './design-check.js';
export {loadChosenSteps} from './steps.js';
export {openForListening, type OpenForListeningOptions} from './open.js';
export {createListenRunner, type ListenOptions} from './runner.js';

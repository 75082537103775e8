/** What every spawned action and webhook learns about the transition. */
import type { ActionContext } from './types.js';

export function transitionEnv(context: ActionContext): Record<string, string> {
  return {
    HACTL_CLUSTER: context.spec.cluster,
    HACTL_NODE: context.node.name,
    HACTL_STATE: context.state,
    HACTL_PREVIOUS: context.previous ?? '',
    // The id every log line of this transition carries: a hook's own logs can be joined to ours.
    ...(context.transitionId === undefined ? {} : { HACTL_TRANSITION_ID: context.transitionId }),
  };
}

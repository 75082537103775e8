/** host or host:port, as a Host header carries it; nothing that could end the header line. */
export const HOST_HEADER = /^([A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

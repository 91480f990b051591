/** Reading a `text/event-stream` response (server-sent events), for the tests and the bench. */

/** One server-sent event: its name and its data, parsed as JSON. */
export interface ServerEvent {
  event: string;
  data: any;
}

/** The events of an event stream as they arrive (comments and events without data skipped). */
export async function* eventsOf(response: Response): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, {stream: true});
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data !== undefined) yield {event, data: JSON.parse(data)};
    }
  }
}

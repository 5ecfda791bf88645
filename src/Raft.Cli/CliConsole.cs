namespace Raft.Cli;

/// <summary>Where a command writes and reads: the process's streams and environment, or a test's.</summary>
/// <param name="Out">Text output (tables, JSON, values).</param>
/// <param name="Error">Diagnostics and error messages.</param>
/// <param name="RawOut">The stream under <paramref name="Out"/>, for a value's bytes as they are.</param>
/// <param name="OpenInput">Opens standard input, for a value or a transaction read from it.</param>
/// <param name="Environment">Reads an environment variable.</param>
internal sealed record CliConsole(TextWriter Out, TextWriter Error, Stream RawOut, Func<Stream> OpenInput, Func<string, string?> Environment)
{
    /// <summary>Writes <paramref name="bytes"/> to standard output after whatever text is already there.</summary>
    public async Task WriteRawAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        await Out.FlushAsync(cancellationToken).ConfigureAwait(false);
        await RawOut.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await RawOut.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}

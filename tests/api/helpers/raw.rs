//! Raw bytes on a connection.

use super::{PROMPTLY, TestApp};

/// A connection that speaks raw bytes, for requests no HTTP client sends:
/// stalled bodies, broken heads.
pub struct RawConnection(tokio::net::TcpStream);

impl RawConnection {
    pub async fn open(app: &TestApp) -> std::io::Result<Self> {
        let address = app.address.trim_start_matches("http://");
        Ok(Self(tokio::net::TcpStream::connect(address).await?))
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(&mut self.0, bytes).await
    }

    /// Reads until `marker` has arrived, and returns what did.
    pub async fn read_until(
        &mut self,
        marker: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        tokio::time::timeout(PROMPTLY, async {
            while !String::from_utf8_lossy(&received).contains(marker) {
                let n = tokio::io::AsyncReadExt::read(&mut self.0, &mut buffer).await?;
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buffer[..n]);
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|_| format!("{marker:?} did not arrive within {PROMPTLY:?}"))??;
        Ok(String::from_utf8_lossy(&received).into_owned())
    }

    /// Everything the server sends until it closes the connection.
    pub async fn read_to_close(
        mut self,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let mut received = Vec::new();
        tokio::time::timeout(
            PROMPTLY,
            tokio::io::AsyncReadExt::read_to_end(&mut self.0, &mut received),
        )
        .await
        .map_err(|_| format!("the server kept the connection open past {PROMPTLY:?}"))??;
        Ok(String::from_utf8_lossy(&received).into_owned())
    }
}
